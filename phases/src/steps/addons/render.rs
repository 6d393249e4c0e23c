//! The addon templates rendered and read back as typed Kubernetes objects. Parsing is strict: a
//! field the type does not have is an error, so a misspelt key in a template fails a test instead of
//! silently vanishing on the way to the cluster.

use handlebars::Handlebars;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::domain::config::yaml::parse_documents;

pub const COREDNS: &str = "coredns.yaml.hbs";
pub const KUBE_PROXY: &str = "kube-proxy.yaml.hbs";

const TEMPLATES: [(&str, &str); 2] = [
    (
        COREDNS,
        include_str!("../../../../templates/coredns.yaml.hbs"),
    ),
    (
        KUBE_PROXY,
        include_str!("../../../../templates/kube-proxy.yaml.hbs"),
    ),
];

/// Both templates compiled once per process.
fn engine() -> Result<&'static Handlebars<'static>, String> {
    static ENGINE: std::sync::OnceLock<Result<Handlebars<'static>, String>> =
        std::sync::OnceLock::new();
    ENGINE
        .get_or_init(|| crate::domain::templates::compile(&TEMPLATES))
        .as_ref()
        .map_err(Clone::clone)
}

/// The documents of a rendered template, taken out one kind at a time.
#[derive(Debug)]
pub struct Rendered {
    template: &'static str,
    documents: Vec<Value>,
}

pub fn render(template: &'static str, data: &impl Serialize) -> Result<Rendered, String> {
    let text = engine()?
        .render(template, data)
        .map_err(|e| format!("templates/{template}: {e}"))?;
    let documents = parse_documents(&text)
        .map_err(|e| {
            format!(
                "templates/{template} rendered into text that is not YAML (line {}: {})",
                e.line, e.message
            )
        })?
        .into_iter()
        .map(|d| d.value)
        .filter(|v| !v.is_null())
        .collect();
    Ok(Rendered {
        template,
        documents,
    })
}

impl Rendered {
    /// The one document of `kind`, as its type.
    pub fn take<T: DeserializeOwned>(&mut self, kind: &str) -> Result<T, String> {
        let template = self.template;
        let index = self
            .documents
            .iter()
            .position(|d| d["kind"] == kind)
            .ok_or_else(|| format!("templates/{template} has no {kind}"))?;
        let value = self.documents.remove(index);
        crate::domain::manifests::typed_from_value(
            value,
            &format!("the {kind} of templates/{template}"),
            kind,
        )
    }

    /// Fails when the template holds a document the code does not use: it would never be applied.
    pub fn finish(self) -> Result<(), String> {
        match self.documents.first() {
            None => Ok(()),
            Some(extra) => Err(format!(
                "templates/{} holds a {} that kinit does not apply",
                self.template, extra["kind"]
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::DaemonSet;
    use serde_json::json;

    #[test]
    fn a_misspelt_field_and_a_stray_document_are_errors() {
        let mut rendered = Rendered {
            template: KUBE_PROXY,
            documents: vec![
                json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "spec": {"updateStrategi": {}}}),
                json!({"apiVersion": "v1", "kind": "Secret"}),
            ],
        };
        let err = rendered.take::<DaemonSet>("DaemonSet").unwrap_err();
        assert!(
            err.contains("unknown field(s) spec.updateStrategi"),
            "{err}"
        );
        assert!(rendered.take::<DaemonSet>("DaemonSet").is_err());
        let err = rendered.finish().unwrap_err();
        assert!(err.contains("\"Secret\""), "{err}");
    }
}
