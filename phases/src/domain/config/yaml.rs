//! Reads a multi-document YAML file into JSON values, remembering the line of every field so that
//! errors can name it, and noting duplicate keys (which a plain map would silently merge).

use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// One YAML document as JSON, with the 1-based line of each field path (`a.b[0].c`; `""` is the document).
#[derive(Debug, Clone)]
pub struct Document {
    pub value: Value,
    pub lines: HashMap<String, usize>,
    pub duplicates: Vec<(String, usize)>,
}

impl Document {
    /// The line of `path`, or of its nearest ancestor that has one.
    pub fn line_of(&self, path: &str) -> usize {
        let mut path = path.to_string();
        loop {
            if let Some(line) = self.lines.get(&path) {
                return *line;
            }
            match path.rfind(['.', '[']) {
                Some(cut) => path.truncate(cut),
                None => return self.lines.get("").copied().unwrap_or(1),
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

enum Frame {
    Seq {
        items: Vec<Value>,
        path: String,
        anchor: usize,
    },
    Map {
        map: Map<String, Value>,
        path: String,
        pending_key: Option<String>,
        anchor: usize,
        /// Keys that came in through a `<<` merge: an explicit key replaces them without being a duplicate.
        merged: Vec<String>,
    },
}

/// The YAML merge key (`<<: *defaults`), which go-yaml (and so kubeadm) honours.
const MERGE_KEY: &str = "<<";

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    documents: Vec<Document>,
    lines: HashMap<String, usize>,
    duplicates: Vec<(String, usize)>,
    /// Each anchored value and its number of nodes.
    anchors: HashMap<usize, (Value, usize)>,
    /// Nodes copied in by aliases so far in this file.
    aliased_nodes: usize,
    root: Option<Value>,
    error: Option<SyntaxError>,
}

/// The most nodes aliases may copy into one file. Far beyond any real configuration; a file of
/// aliases of aliases ("billion laughs") would otherwise grow without bound from a few lines.
const ALIASED_NODES_LIMIT: usize = 100_000;

fn node_count(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(node_count).sum::<usize>(),
        Value::Object(map) => 1 + map.values().map(node_count).sum::<usize>(),
        _ => 1,
    }
}

fn child_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl Builder {
    /// The path the next node gets, given where it sits.
    fn next_path(&self) -> String {
        match self.stack.last() {
            None => String::new(),
            Some(Frame::Seq { items, path, .. }) => format!("{path}[{}]", items.len()),
            Some(Frame::Map {
                path,
                pending_key: Some(key),
                ..
            }) => child_path(path, key),
            Some(Frame::Map { path, .. }) => path.clone(),
        }
    }

    fn place(&mut self, value: Value, line: usize) {
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map {
                map,
                path,
                pending_key,
                merged,
                ..
            }) => match pending_key.take() {
                Some(key) if key == MERGE_KEY => {
                    // Explicit keys win over merged ones, and an earlier merged map over a later one.
                    let sources = match value {
                        Value::Array(items) => items,
                        other => vec![other],
                    };
                    for source in sources {
                        let Value::Object(source) = source else {
                            self.error = Some(SyntaxError {
                                line,
                                column: 1,
                                message: "a merge key (<<) takes a map or a list of maps".into(),
                            });
                            return;
                        };
                        for (key, value) in source {
                            if !map.contains_key(&key) {
                                self.lines.insert(child_path(path, &key), line);
                                merged.push(key.clone());
                                map.insert(key, value);
                            }
                        }
                    }
                }
                Some(key) => {
                    map.insert(key, value);
                }
                None => {
                    let key = match value {
                        Value::String(s) => s,
                        Value::Null => "null".to_string(),
                        Value::Bool(_) | Value::Number(_) => value.to_string(),
                        // kubeadm's YAML reader refuses such keys too; written out as text they
                        // would also double in size with each level of nesting.
                        Value::Array(_) | Value::Object(_) => {
                            self.error = Some(SyntaxError {
                                line,
                                column: 1,
                                message: "a map key must be a single value, not a map or a list"
                                    .into(),
                            });
                            return;
                        }
                    };
                    let key_path = child_path(path, &key);
                    if let Some(at) = merged.iter().position(|k| *k == key) {
                        merged.remove(at);
                    } else if map.contains_key(&key) && key != MERGE_KEY {
                        self.duplicates.push((key_path.clone(), line));
                    }
                    self.lines.insert(key_path, line);
                    *pending_key = Some(key);
                }
            },
        }
    }

    fn is_key_position(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(Frame::Map {
                pending_key: None,
                ..
            })
        )
    }
}

/// Resolves a plain scalar the way kubeadm's YAML reader (go-yaml, YAML 1.1 rules) does.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => {
            return Value::Bool(true)
        }
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n" | "N" => {
            return Value::Bool(false)
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "-.inf" | ".nan" | ".NaN" | ".NAN" => {
            return Value::String(text.to_string())
        }
        _ => {}
    }
    let digits = text.trim_start_matches(['-', '+']);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        if let Ok(n) = text.parse::<i64>() {
            return Value::Number(n.into());
        }
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if let Ok(n) = i64::from_str_radix(hex, 16) {
            return Value::Number(n.into());
        }
    }
    let looks_float = text.chars().any(|c| c.is_ascii_digit())
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && text.matches('.').count() <= 1;
    if looks_float {
        if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(text.to_string())
}

fn scalar_value(text: String, style: TScalarStyle, tag: Option<Tag>) -> Value {
    if let Some(tag) = tag {
        if tag.suffix == "str" {
            return Value::String(text);
        }
    }
    match style {
        TScalarStyle::Plain => resolve_plain(&text),
        _ => Value::String(text),
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let line = mark.line();
        match event {
            Event::DocumentStart => {
                self.lines.clear();
                self.duplicates.clear();
                self.root = None;
            }
            Event::DocumentEnd => {
                let value = self.root.take().unwrap_or(Value::Null);
                // An empty document (a comment-only chunk between `---` lines) carries nothing.
                if !value.is_null() {
                    self.documents.push(Document {
                        value,
                        lines: std::mem::take(&mut self.lines),
                        duplicates: std::mem::take(&mut self.duplicates),
                    });
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                if !self.is_key_position() {
                    let path = self.next_path();
                    self.lines.entry(path).or_insert(line);
                }
                let value = scalar_value(text, style, tag);
                if anchor > 0 {
                    self.anchors.insert(anchor, (value.clone(), 1));
                }
                self.place(value, line);
            }
            Event::Alias(anchor) => {
                let (value, nodes) = self
                    .anchors
                    .get(&anchor)
                    .cloned()
                    .unwrap_or((Value::Null, 1));
                self.aliased_nodes = self.aliased_nodes.saturating_add(nodes);
                if self.aliased_nodes > ALIASED_NODES_LIMIT {
                    self.error = Some(SyntaxError {
                        line,
                        column: mark.col() + 1,
                        message: format!("its aliases copy in more than {ALIASED_NODES_LIMIT} values: expand them by hand if they are meant"),
                    });
                    return;
                }
                self.place(value, line);
            }
            Event::SequenceStart(anchor, _) => {
                let path = self.next_path();
                self.lines.entry(path.clone()).or_insert(line);
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    path,
                    anchor,
                });
            }
            Event::MappingStart(anchor, _) => {
                let path = self.next_path();
                self.lines.entry(path.clone()).or_insert(line);
                self.stack.push(Frame::Map {
                    map: Map::new(),
                    path,
                    pending_key: None,
                    anchor,
                    merged: Vec::new(),
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { items, anchor, .. }) => (Value::Array(items), anchor),
                    Some(Frame::Map { map, anchor, .. }) => (Value::Object(map), anchor),
                    None => return,
                };
                if anchor > 0 {
                    let nodes = node_count(&value);
                    self.anchors.insert(anchor, (value.clone(), nodes));
                }
                self.place(value, line);
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
    }
}

/// Splits and reads every document; a syntax error anywhere fails the whole file, as in kubeadm.
pub fn parse_documents(text: &str) -> Result<Vec<Document>, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        return Err(SyntaxError {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info().to_string(),
        });
    }
    if let Some(error) = builder.error {
        return Err(error);
    }
    Ok(builder.documents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_or_list_as_a_key_is_refused_as_kubeadm_refuses_it() {
        let nested = format!("a: 1\nb: {}{}\n", "{".repeat(40), "}".repeat(40));
        let error = parse_documents(&nested).unwrap_err();
        assert_eq!(error.line, 2);
        assert_eq!(
            error.message,
            "a map key must be a single value, not a map or a list"
        );
        assert!(parse_documents("? [a, b]\n: c\n").is_err());
        let scalars = parse_documents("1: a\ntrue: b\n~: c\n").unwrap();
        assert_eq!(
            scalars[0].value,
            serde_json::json!({"1": "a", "true": "b", "null": "c"})
        );
    }

    #[test]
    fn aliases_may_not_multiply_a_file_without_bound() {
        let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (name, previous) in ["b", "c", "d", "e", "f", "g"]
            .iter()
            .zip(["a", "b", "c", "d", "e", "f"])
        {
            laughs.push_str(&format!(
                "{name}: &{name} [{}]\n",
                vec![format!("*{previous}"); 10].join(", ")
            ));
        }
        let error = parse_documents(&laughs).unwrap_err();
        assert!(
            error
                .message
                .starts_with("its aliases copy in more than 100000 values"),
            "{error:?}"
        );
        assert_eq!(error.line, 5);
        let shared = parse_documents("base: &base {x: 1}\none: *base\ntwo: *base\n").unwrap();
        assert_eq!(shared[0].value["two"], serde_json::json!({"x": 1}));
    }

    #[test]
    fn records_lines_and_duplicates() {
        let docs = parse_documents("# preamble\n---\na: 1\nb:\n  c: [x, y]\n  d: true\na: 2\n---\n# only a comment\n---\nkind: K\n").unwrap();
        assert_eq!(docs.len(), 2);
        let first = &docs[0];
        assert_eq!(first.value["a"], Value::from(2));
        assert_eq!(first.value["b"]["d"], Value::Bool(true));
        assert_eq!(first.line_of("b.c"), 5);
        assert_eq!(first.line_of("b.c[1]"), 5);
        assert_eq!(first.line_of("b.d"), 6);
        assert_eq!(first.duplicates, vec![("a".to_string(), 7)]);
        assert_eq!(docs[1].value["kind"], Value::from("K"));
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        let docs =
            parse_documents("a: \"5\"\nb: 5\nc: 1.30\nd: v1.30.0\ne: !!str 7\nf: ~\n").unwrap();
        let v = &docs[0].value;
        assert_eq!(v["a"], Value::from("5"));
        assert_eq!(v["b"], Value::from(5));
        assert!(v["c"].is_f64());
        assert_eq!(v["d"], Value::from("v1.30.0"));
        assert_eq!(v["e"], Value::from("7"));
        assert!(v["f"].is_null());
    }

    #[test]
    fn merge_keys_fill_in_what_is_not_set_explicitly() {
        let docs = parse_documents(
            "base: &base\n  a: 1\n  b: 2\nother: &other\n  c: 3\n  a: 9\nuse:\n  b: 20\n  <<: [*base, *other]\n  d: 4\n",
        )
        .unwrap();
        let used = &docs[0].value["use"];
        assert_eq!(used["a"], Value::from(1), "the first merged map wins");
        assert_eq!(used["b"], Value::from(20), "an explicit key wins");
        assert_eq!(
            (used["c"].clone(), used["d"].clone()),
            (Value::from(3), Value::from(4))
        );
        assert!(used.get("<<").is_none());
        assert!(docs[0].duplicates.is_empty(), "{:?}", docs[0].duplicates);
        let later = parse_documents("base: &b\n  a: 1\nuse:\n  <<: *b\n  a: 2\n").unwrap();
        assert_eq!(later[0].value["use"]["a"], Value::from(2));
        assert!(later[0].duplicates.is_empty());
        assert!(parse_documents("use:\n  <<: 5\n").is_err());
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let err = parse_documents("a:\n  - b\n c: d\n").unwrap_err();
        assert!(err.line >= 2, "{err:?}");
    }
}
