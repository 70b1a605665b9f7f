//! A JSON object that keeps its keys in insertion order (`serde_json::Map` sorts them
//! unless the `preserve_order` feature is on, and `{"line":…,"cmd":…,"ok":…}` first reads
//! better).

use serde_json::Value;

/// An ordered JSON object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Obj {
    fields: Vec<(String, Value)>,
}

impl Obj {
    /// An empty object.
    pub fn new() -> Obj {
        Obj::default()
    }

    /// Sets `key` (replacing an earlier value, keeping its position).
    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        let value = value.into();
        match self.fields.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.fields.push((key.to_string(), value)),
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The fields in order.
    pub fn fields(&self) -> &[(String, Value)] {
        &self.fields
    }

    /// Appends every field of `other`.
    pub fn extend(&mut self, other: Obj) {
        for (k, v) in other.fields {
            self.set(&k, v);
        }
    }

    /// Serialises on one line.
    pub fn to_line(&self) -> String {
        let mut s = String::from("{");
        for (i, (k, v)) in self.fields.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&Value::String(k.clone()).to_string());
            s.push(':');
            s.push_str(&v.to_string());
        }
        s.push('}');
        s
    }

    /// Converts into a `serde_json::Value` (key order is then serde_json's).
    pub fn into_value(self) -> Value {
        Value::Object(self.fields.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_escapes() {
        let mut o = Obj::new();
        o.set("line", 3);
        o.set("cmd", "echo");
        o.set("text", "a \"b\"");
        o.set("line", 4);
        assert_eq!(o.to_line(), r#"{"line":4,"cmd":"echo","text":"a \"b\""}"#);
        let v: Value = serde_json::from_str(&o.to_line()).unwrap();
        assert_eq!(v["cmd"], "echo");
    }
}
