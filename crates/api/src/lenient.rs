//! Tolerant deserialisers for the shapes real consoles and integrations' fixtures send:
//! booleans as `"True"`, numbers as strings (`"7.80"`), ids as numbers, `null` where a value was
//! expected. Serialisation always emits the canonical type.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `true`, `"true"`, `"True"`, `1`, `"1"` → true; null/missing → None.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(b),
        Some(Value::Number(n)) => Some(n.as_f64().is_some_and(|f| f != 0.0)),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" | "" => Some(false),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "expected a boolean, got the string {other:?}"
                )));
            }
        },
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "expected a boolean, got {other}"
            )));
        }
    })
}

/// Integers sent as numbers or strings ("5"); null/"" → None.
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => {
            Some(s.trim().parse::<f64>().map(|f| f as i64).map_err(|_| {
                serde::de::Error::custom(format!("expected an integer, got the string {s:?}"))
            })?)
        }
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "expected an integer, got {other}"
            )));
        }
    })
}

/// Decimal numbers sent as numbers or strings ("7.80"); null/"" → None.
pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.trim().parse::<f64>().map_err(|_| {
            serde::de::Error::custom(format!("expected a number, got the string {s:?}"))
        })?),
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "expected a number, got {other}"
            )));
        }
    })
}

/// Strings that some fixtures send as numbers (ids). null → None.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "expected a string, got {other}"
            )));
        }
    })
}

/// A required id that may arrive as a string or a number.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    opt_string(d).map(Option::unwrap_or_default)
}

/// A list that may be null.
pub fn vec_or_null<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A list of strings in which entries may be null (dropped).
pub fn strings_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Option::<Vec<Option<String>>>::deserialize(d)?;
    Ok(v.unwrap_or_default().into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct T {
        #[serde(default, deserialize_with = "super::opt_bool")]
        b: Option<bool>,
        #[serde(default, deserialize_with = "super::opt_f64")]
        f: Option<f64>,
        #[serde(default, deserialize_with = "super::opt_i64")]
        i: Option<i64>,
        #[serde(default, deserialize_with = "super::opt_string")]
        s: Option<String>,
    }

    #[test]
    fn accepts_strings_for_numbers_and_booleans() {
        let t: T = serde_json::from_str(r#"{"b":"True","f":"7.80","i":"5","s":123}"#).unwrap();
        assert_eq!(t.b, Some(true));
        assert_eq!(t.f, Some(7.8));
        assert_eq!(t.i, Some(5));
        assert_eq!(t.s.as_deref(), Some("123"));
        let t: T = serde_json::from_str(r#"{"b":null,"f":null}"#).unwrap();
        assert_eq!((t.b, t.f, t.i, t.s), (None, None, None, None));
    }

    #[test]
    fn rejects_nonsense_with_a_message() {
        let e = serde_json::from_str::<T>(r#"{"b":"maybe"}"#)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("expected a boolean"), "{e}");
    }
}
