//! The export's shape: files, wiring, names that collide with state keys, literals.

use std::path::PathBuf;

use super::*;
use crate::workflow::source::StaticPrompts;
use crate::workflow::{ExecPolicy, Workflow, prepare};

async fn compiled(text: &str) -> std::sync::Arc<Compiled> {
    let w = Workflow::parse(PathBuf::from("w.yaml"), PathBuf::new(), text.to_owned()).expect("parses");
    prepare(&w, &StaticPrompts::new(), None, &ExecPolicy::Local).await.expect("valid").0
}

const JOIN: &str = "version: 1\nname: my-flow\ninput: [q]\nstate:\n  q: { type: string }\n  seen: { type: array, reducer: append, default: [] }\n  n: { type: integer, reducer: add, default: 0 }\nnodes:\n  q-node: { type: tool, tool: { builtin: echo }, output: { seen: \"['a']\" } }\n  b: { type: tool, tool: { builtin: echo }, output: { n: '1' } }\n  join: { type: tool, tool: { builtin: echo }, wait_for: [q-node, b] }\nedges:\n  - { from: START, to: [q-node, b] }\n  - { from: q-node, to: join }\n  - { from: b, to: join }\n  - { from: join, to: END }\n";

#[tokio::test]
async fn the_export_has_four_files_and_explicit_wiring() {
    let files = langgraph(&*compiled(JOIN).await, &ProjectConfig::default());
    let names: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
    assert_eq!(names, vec!["graph.py", "requirements.txt", "langgraph.json", "EXPORT_NOTES.md"]);
    let graph = &files[0].contents;
    assert!(graph.contains("class MyFlowState(TypedDict, total=False):\n    n: Annotated[int, _add]\n    q: Optional[str]\n    seen: Annotated[list, _append]\n"), "{graph}");
    assert!(graph.contains("    builder.add_edge([\"q-node\", \"b\"], \"join\")\n"), "{graph}");
    assert!(graph.contains("    builder.add_conditional_edges(\"q-node\", rt.route(\"q-node\"), [END])\n"), "{graph}");
    assert!(graph.contains("\"recursion_limit\": 102"), "{graph}");
    assert!(graph.contains("graph = build_my_flow()\n"), "{graph}");
    let config: Value = serde_json::from_str(&files[2].contents).expect("json");
    assert_eq!(config["graphs"]["my-flow"], "./graph.py:graph");
}

#[test]
fn literals_are_python() {
    let value = serde_json::json!({"a": [1, true, null], "b": {"c": "x\"y\n"}});
    assert_eq!(
        python::literal(&value, 0),
        "{\n    \"a\": [1, True, None],\n    \"b\": {\n        \"c\": \"x\\\"y\\n\",\n    },\n}"
    );
}

#[tokio::test]
async fn node_names_that_are_state_keys_get_a_suffix() {
    let text = "version: 1\nname: n\nstate: { draft: { type: string } }\nnodes:\n  draft: { type: tool, tool: { builtin: echo }, output: { draft: \"'x'\" } }\nedges:\n  - { from: START, to: draft }\n  - { from: draft, to: END }\n";
    let graph = &langgraph(&*compiled(text).await, &ProjectConfig::default())[0].contents;
    assert!(graph.contains("builder.add_node(\"draft_node\", rt.node(\"draft\"))"), "{graph}");
    assert!(graph.contains("\"graph_names\": {\n        \"draft\": \"draft_node\",\n    }"), "{graph}");
}
