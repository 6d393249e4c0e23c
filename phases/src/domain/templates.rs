//! How kinit compiles the handlebars templates of `templates/`: strict (an unknown name is an
//! error, not an empty string), unescaped (the output is YAML, not HTML), with a `json` helper.

use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderErrorReason,
};

/// Writes a value as JSON, which YAML reads as the same scalar (or flow collection) whatever it holds.
fn json_helper(
    helper: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let value = helper
        .param(0)
        .ok_or(RenderErrorReason::ParamNotFoundForIndex("json", 0))?;
    let text = serde_json::to_string(value.value())
        .map_err(|e| RenderErrorReason::Other(e.to_string()))?;
    out.write(&text)?;
    Ok(())
}

/// An engine holding `templates`, each (name, text), named `templates/<name>` in errors.
pub fn compile(templates: &[(&str, &'static str)]) -> Result<Handlebars<'static>, String> {
    let mut handlebars = Handlebars::new();
    handlebars.set_strict_mode(true);
    handlebars.register_escape_fn(handlebars::no_escape);
    handlebars.register_helper("json", Box::new(json_helper));
    for (name, text) in templates {
        handlebars
            .register_template_string(name, *text)
            .map_err(|e| format!("templates/{name}: {e}"))?;
    }
    Ok(handlebars)
}
