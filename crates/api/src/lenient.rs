//! Tolerant deserialisers for the shapes real consoles and integrations' fixtures send:
//! booleans as `"True"`, numbers as strings (`"7.80"`), ids as numbers, `null` where a value was
//! expected. Serialisation always emits the canonical type.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};

// Each helper is a visitor driven by `deserialize_any`, never an intermediate
// `serde_json::Value`: these run for every field of every record, and going through `Value` is
// 4-5x slower (research/perf.md §1).

struct BoolV;
impl<'de> Visitor<'de> for BoolV {
    type Value = Option<bool>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a boolean, \"true\"/\"false\" or null")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v != 0))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v != 0))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(v != 0.0))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let t = v.trim();
        if t.eq_ignore_ascii_case("true") || t == "1" || t.eq_ignore_ascii_case("yes") {
            Ok(Some(true))
        } else if t.eq_ignore_ascii_case("false")
            || t == "0"
            || t.eq_ignore_ascii_case("no")
            || t.is_empty()
        {
            Ok(Some(false))
        } else {
            Err(E::custom(format!(
                "expected a boolean, got the string {:?}",
                t.to_ascii_lowercase()
            )))
        }
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// `true`, `"true"`, `"True"`, `1`, `"1"` → true; null/missing → None.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    d.deserialize_any(BoolV)
}

struct NumV<const INT: bool>;
impl<'de, const INT: bool> Visitor<'de> for NumV<INT> {
    type Value = Option<f64>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(if INT {
            "an integer, a string holding one, or null"
        } else {
            "a number, a string holding one, or null"
        })
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let t = v.trim();
        if t.is_empty() {
            return Ok(None);
        }
        t.parse::<f64>().map(Some).map_err(|_| {
            E::custom(format!(
                "expected {}, got the string {v:?}",
                if INT { "an integer" } else { "a number" }
            ))
        })
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Err(E::custom(format!(
            "expected {}, got {v}",
            if INT { "an integer" } else { "a number" }
        )))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

struct IntV;
impl<'de> Visitor<'de> for IntV {
    type Value = Option<i64>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer, a string holding one, or null")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v as i64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(v as i64))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let t = v.trim();
        if t.is_empty() {
            return Ok(None);
        }
        match t.parse::<i64>() {
            Ok(i) => Ok(Some(i)),
            Err(_) => NumV::<true>.visit_str(v).map(|f| f.map(|f| f as i64)),
        }
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Err(E::custom(format!("expected an integer, got {v}")))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// Integers sent as numbers or strings ("5"); null/"" → None.
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_any(IntV)
}

/// Decimal numbers sent as numbers or strings ("7.80"); null/"" → None.
pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    d.deserialize_any(NumV::<false>)
}

struct StrV;
impl<'de> Visitor<'de> for StrV {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, a number or null")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// Strings that some fixtures send as numbers (ids). null → None.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(StrV)
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
