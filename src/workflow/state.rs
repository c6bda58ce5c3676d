//! The state of a run and its reducers. The state is a map of declared keys to JSON values;
//! the writes of one step are applied together, in a deterministic order (node name, then map
//! index), each key through its reducer. `replace` keeps one value and refuses a second write
//! in the same step (the static check catches most such cases before a run; this is the net).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::graph::{Reducer, StateKey, WorkflowFile};

/// The state: declared keys and their values.
pub type Values = BTreeMap<String, Value>;

/// The state at the start of a run: every key's default (or null), then the input.
pub fn initial(file: &WorkflowFile, input: &Value) -> Result<Values, String> {
    let mut values: Values =
        file.state.iter().map(|(k, spec)| (k.clone(), spec.default.clone().unwrap_or(Value::Null))).collect();
    let given = match input {
        Value::Object(map) => map.clone(),
        Value::Null => Map::new(),
        other => return Err(format!("the input must be a JSON object, got {other}")),
    };
    for key in given.keys() {
        if !file.input.contains(key) {
            let allowed: Vec<&str> = file.input.iter().map(String::as_str).collect();
            return Err(format!(
                "the input has `{key}`, which is not an input of workflow `{}` (inputs: {})",
                file.name,
                if allowed.is_empty() { "none".to_owned() } else { allowed.join(", ") }
            ));
        }
    }
    for key in &file.input {
        let spec = file.state.get(key).cloned().unwrap_or_default();
        match given.get(key) {
            Some(value) => {
                check_type(key, &spec, value)?;
                values.insert(key.clone(), value.clone());
            }
            None if spec.default.is_some() => {}
            None => return Err(format!("the input needs `{key}`")),
        }
    }
    Ok(values)
}

/// Checks a value against a key's declared type.
pub fn check_type(key: &str, spec: &StateKey, value: &Value) -> Result<(), String> {
    if spec.kind.accepts(value) {
        Ok(())
    } else {
        Err(format!("`{key}` must be of type {}, got {}", spec.kind.as_str(), short(value)))
    }
}

/// A value for messages, cut to a readable length.
pub fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 80 { format!("{}…", text.chars().take(80).collect::<String>()) } else { text }
}

/// One write of one task: which key, what value, and who wrote it (for messages).
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    /// The task that wrote it (`node` or `node#index`).
    pub task: String,
    /// The key.
    pub key: String,
    /// The value.
    pub value: Value,
}

/// Applies the writes of one step, given in merge order, to `values`.
pub fn apply(file: &WorkflowFile, values: &mut Values, writes: &[Write]) -> Result<(), String> {
    let mut replaced: BTreeMap<&str, &str> = BTreeMap::new();
    for write in writes {
        let spec = file.state.get(&write.key).cloned().unwrap_or_default();
        if spec.reducer == Reducer::Replace
            && let Some(first) = replaced.insert(&write.key, &write.task)
        {
            return Err(format!(
                "`{first}` and `{}` both wrote `{}` in the same step, but its reducer `replace` keeps only one value",
                write.task, write.key
            ));
        }
        let current = values.get(&write.key).cloned().unwrap_or(Value::Null);
        let next =
            reduce(spec.reducer, current, write.value.clone()).map_err(|why| format!("`{}`: {why}", write.key))?;
        check_type(&write.key, &spec, &next).map_err(|why| format!("{why} (written by `{}`)", write.task))?;
        values.insert(write.key.clone(), next);
    }
    Ok(())
}

/// Combines the current value of a key with a new write.
pub fn reduce(reducer: Reducer, current: Value, new: Value) -> Result<Value, String> {
    match reducer {
        Reducer::Replace => Ok(new),
        Reducer::Append => {
            let mut list = as_list(current, "append")?;
            match new {
                Value::Array(items) => list.extend(items),
                Value::Null => {}
                one => list.push(one),
            }
            Ok(Value::Array(list))
        }
        Reducer::Merge => {
            let mut map = match current {
                Value::Object(map) => map,
                Value::Null => Map::new(),
                other => return Err(format!("`merge` needs an object, the value is {}", short(&other))),
            };
            match new {
                Value::Object(more) => map.extend(more),
                Value::Null => {}
                other => return Err(format!("`merge` needs an object, the write is {}", short(&other))),
            }
            Ok(Value::Object(map))
        }
        Reducer::Add => add(current, new),
        Reducer::Max | Reducer::Min => extreme(reducer == Reducer::Max, current, new),
        Reducer::Messages => messages(current, new),
    }
}

fn as_list(value: Value, reducer: &str) -> Result<Vec<Value>, String> {
    match value {
        Value::Array(items) => Ok(items),
        Value::Null => Ok(Vec::new()),
        other => Err(format!("`{reducer}` needs a list, the value is {}", short(&other))),
    }
}

fn add(current: Value, new: Value) -> Result<Value, String> {
    let number = |v: &Value| v.as_f64().ok_or_else(|| format!("`add` needs numbers, got {}", short(v)));
    match (&current, &new) {
        (Value::Null, _) => number(&new).map(|_| new.clone()),
        (_, Value::Null) => Ok(current),
        (Value::Number(a), Value::Number(b)) if a.is_i64() && b.is_i64() => {
            let (a, b) = (a.as_i64().unwrap_or(0), b.as_i64().unwrap_or(0));
            Ok(a.checked_add(b).map_or_else(|| Value::from(a as f64 + b as f64), Value::from))
        }
        _ => Ok(Value::from(number(&current)? + number(&new)?)),
    }
}

fn extreme(max: bool, current: Value, new: Value) -> Result<Value, String> {
    let ordering = match (&current, &new) {
        (Value::Null, _) => return Ok(new),
        (_, Value::Null) => return Ok(current),
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .unwrap_or(f64::NAN)
            .partial_cmp(&b.as_f64().unwrap_or(f64::NAN))
            .unwrap_or(std::cmp::Ordering::Equal),
        (Value::String(a), Value::String(b)) => a.cmp(b),
        _ => {
            return Err(format!(
                "`max` and `min` compare numbers or strings, got {} and {}",
                short(&current),
                short(&new)
            ));
        }
    };
    let keep_current = if max { ordering.is_ge() } else { ordering.is_le() };
    Ok(if keep_current { current } else { new })
}

/// Appends chat messages; a message whose `id` matches an earlier one replaces it in place
/// (LangGraph's `add_messages`).
fn messages(current: Value, new: Value) -> Result<Value, String> {
    let mut list = as_list(current, "messages")?;
    let incoming = match new {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        one => vec![one],
    };
    for message in incoming {
        let id = message.get("id").cloned();
        match id.and_then(|id| list.iter().position(|m| m.get("id") == Some(&id))) {
            Some(at) => list[at] = message,
            None => list.push(message),
        }
    }
    Ok(Value::Array(list))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;

    #[test]
    fn every_reducer() {
        assert_eq!(reduce(Reducer::Replace, json!(1), json!(2)), Ok(json!(2)));
        assert_eq!(reduce(Reducer::Append, json!([1]), json!([2, 3])), Ok(json!([1, 2, 3])));
        assert_eq!(reduce(Reducer::Append, Value::Null, json!("one")), Ok(json!(["one"])));
        assert_eq!(reduce(Reducer::Merge, json!({"a": 1, "b": 1}), json!({"b": 2})), Ok(json!({"a": 1, "b": 2})));
        assert_eq!(reduce(Reducer::Add, json!(2), json!(3)), Ok(json!(5)));
        assert_eq!(reduce(Reducer::Add, json!(2), json!(0.5)), Ok(json!(2.5)));
        assert_eq!(reduce(Reducer::Max, json!(2), json!(3)), Ok(json!(3)));
        assert_eq!(reduce(Reducer::Min, json!(2), json!(3)), Ok(json!(2)));
        assert_eq!(reduce(Reducer::Max, json!("a"), json!("b")), Ok(json!("b")));
        let merged = reduce(
            Reducer::Messages,
            json!([{"id": "1", "content": "hi"}, {"id": "2", "content": "x"}]),
            json!([{"id": "2", "content": "edited"}, {"content": "new"}]),
        );
        assert_eq!(
            merged,
            Ok(json!([{"id": "1", "content": "hi"}, {"id": "2", "content": "edited"}, {"content": "new"}]))
        );
    }

    #[test]
    fn reducers_refuse_the_wrong_types() {
        assert!(reduce(Reducer::Add, json!(1), json!("x")).is_err());
        assert!(reduce(Reducer::Merge, json!({}), json!([1])).is_err());
        assert!(reduce(Reducer::Max, json!(1), json!("x")).is_err());
    }

    fn file() -> WorkflowFile {
        crate::yaml::from_str(
            Path::new("w.yaml"),
            "version: 1\nname: w\ninput: [q]\nstate:\n  q: { type: string }\n  n: { type: integer, reducer: add, default: 0 }\n  one: { type: string }\nnodes: {}\nedges: []\n",
        )
        .expect("parses")
    }

    #[test]
    fn initial_state_checks_the_input() {
        let f = file();
        assert_eq!(initial(&f, &json!({"q": "x"})).expect("ok")["n"], json!(0));
        assert_eq!(initial(&f, &json!({})).expect_err("missing"), "the input needs `q`");
        assert!(initial(&f, &json!({"q": 1})).expect_err("type").contains("must be of type string"));
        assert!(initial(&f, &json!({"q": "x", "z": 1})).expect_err("unknown").contains("not an input"));
    }

    #[test]
    fn a_second_replace_in_one_step_is_refused() {
        let f = file();
        let mut values = initial(&f, &json!({"q": "x"})).expect("ok");
        let w = |task: &str, key: &str, value: Value| Write { task: task.into(), key: key.into(), value };
        apply(&f, &mut values, &[w("a", "n", json!(1)), w("b", "n", json!(2))]).expect("add merges");
        assert_eq!(values["n"], json!(3));
        let err =
            apply(&f, &mut values, &[w("a", "one", json!("a")), w("b", "one", json!("b"))]).expect_err("conflict");
        assert_eq!(
            err,
            "`a` and `b` both wrote `one` in the same step, but its reducer `replace` keeps only one value"
        );
        let err = apply(&f, &mut values, &[w("a", "n", json!("x"))]).expect_err("type");
        assert!(err.contains("`add` needs numbers"), "{err}");
    }
}
