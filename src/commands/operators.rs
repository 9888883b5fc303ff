//! `hangar operators`

use hangar_sdk::{PortDecl, Registry};
use serde_json::json;

fn ports(ports: &[PortDecl]) -> String {
    if ports.is_empty() {
        return "-".to_owned();
    }
    ports
        .iter()
        .map(|p| format!("{}: {}{}", p.name, p.kind, if p.required { "" } else { "?" }))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn run(registry: &Registry, json: bool) {
    if json {
        let list: Vec<_> = registry
            .iter()
            .map(|op| {
                json!({
                    "name": op.info.name,
                    "version": op.info.version,
                    "description": op.info.description,
                    "inputs": op.info.inputs,
                    "outputs": op.info.outputs,
                    "cacheable": op.info.cacheable,
                    "privileged": op.info.privileged,
                    "config_schema": op.config_schema,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list).unwrap_or_default());
        return;
    }
    for op in registry.iter() {
        println!("{} (v{})", op.info.name, op.info.version);
        println!("    {}", op.info.description);
        println!("    inputs:  {}", ports(&op.info.inputs));
        println!("    outputs: {}", ports(&op.info.outputs));
        if let Some(props) = op.config_schema.get("properties").and_then(|p| p.as_object()) {
            let required: Vec<&str> = op
                .config_schema
                .get("required")
                .and_then(|r| r.as_array())
                .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            println!("    with:");
            for (name, schema) in props {
                let doc = schema.get("description").and_then(|d| d.as_str()).unwrap_or_default();
                let mark = if required.contains(&name.as_str()) { " (required)" } else { "" };
                println!("      {name}{mark}: {}", doc.lines().next().unwrap_or_default());
            }
        }
        println!();
    }
}
