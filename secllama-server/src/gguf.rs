//! Reads a GGUF file's metadata (not its weights) for `/api/show` and `/api/tags`: family,
//! parameter count, quantization, context length, chat template.
//!
//! Every length read from the file is bounded and the whole read is capped at
//! [`MAX_METADATA_BYTES`], so a hostile file costs at most that much I/O and a few MiB of
//! memory.

use std::collections::BTreeMap;
use std::io::{BufReader, Read};
use std::path::Path;

/// Most bytes read from a file's header (metadata and tensor table).
pub(crate) const MAX_METADATA_BYTES: u64 = 256 * 1024 * 1024;
const MAX_KEY_LEN: u64 = 64 * 1024;
const MAX_STRING_LEN: u64 = 4 * 1024 * 1024;
const MAX_KV: u64 = 1 << 20;
const MAX_TENSORS: u64 = 1 << 20;
const MAX_KEPT_STRING: usize = 1024;

/// What `/api/show` and `/api/tags` report.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct GgufDetails {
    pub(crate) architecture: String,
    pub(crate) name: Option<String>,
    pub(crate) parameter_count: u64,
    pub(crate) quantization: String,
    pub(crate) context_length: Option<u64>,
    pub(crate) chat_template: Option<String>,
    /// Scalar metadata (strings cut at 1 KiB), for `model_info`.
    pub(crate) scalars: BTreeMap<String, serde_json::Value>,
}

impl GgufDetails {
    /// `270M`, `1.5B`: the size as Ollama prints it.
    pub(crate) fn parameter_size(&self) -> String {
        #[allow(clippy::cast_precision_loss)]
        let n = self.parameter_count as f64;
        if n >= 1e9 {
            format!("{:.1}B", n / 1e9)
        } else if n >= 1e6 {
            format!("{:.0}M", n / 1e6)
        } else {
            format!("{:.0}K", n / 1e3)
        }
    }
}

struct Reader<R> {
    inner: R,
    budget: u64,
}

impl<R: Read> Reader<R> {
    fn bytes(&mut self, n: u64) -> Result<Vec<u8>, String> {
        if n > self.budget {
            return Err("the metadata is larger than the reader's limit".into());
        }
        self.budget -= n;
        let mut buf = vec![0; usize::try_from(n).map_err(|_| "length overflow")?];
        self.inner
            .read_exact(&mut buf)
            .map_err(|e| format!("truncated metadata: {e}"))?;
        Ok(buf)
    }
    fn skip(&mut self, n: u64) -> Result<(), String> {
        if n > self.budget {
            return Err("the metadata is larger than the reader's limit".into());
        }
        self.budget -= n;
        let copied = std::io::copy(&mut (&mut self.inner).take(n), &mut std::io::sink())
            .map_err(|e| format!("reading metadata: {e}"))?;
        if copied == n {
            Ok(())
        } else {
            Err("truncated metadata".into())
        }
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let v = self.bytes(N as u64)?;
        v.try_into().map_err(|_| "short read".to_owned())
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn string(&mut self, max: u64) -> Result<String, String> {
        let n = self.u64()?;
        if n > max {
            return Err(format!("a string of {n} bytes is over the limit of {max}"));
        }
        String::from_utf8(self.bytes(n)?).map_err(|_| "a string is not UTF-8".to_owned())
    }

    /// A value of `ty`: scalars as JSON, arrays skipped (`Null`).
    fn value(&mut self, ty: u32) -> Result<serde_json::Value, String> {
        use serde_json::Value;
        Ok(match ty {
            0 => Value::from(self.array::<1>()?[0]),
            1 => Value::from(i8::from_le_bytes(self.array()?)),
            2 => Value::from(u16::from_le_bytes(self.array()?)),
            3 => Value::from(i16::from_le_bytes(self.array()?)),
            4 => Value::from(self.u32()?),
            5 => Value::from(i32::from_le_bytes(self.array()?)),
            6 => Value::from(f32::from_le_bytes(self.array()?)),
            7 => Value::from(self.array::<1>()?[0] != 0),
            8 => Value::from(self.string(MAX_STRING_LEN)?),
            9 => {
                let elem = self.u32()?;
                let n = self.u64()?;
                match scalar_size(elem) {
                    Some(size) => self.skip(n.checked_mul(size).ok_or("array too large")?)?,
                    None if elem == 8 => {
                        for _ in 0..n {
                            let len = self.u64()?;
                            if len > MAX_STRING_LEN {
                                return Err("an array string is over the limit".into());
                            }
                            self.skip(len)?;
                        }
                    }
                    None => return Err(format!("unsupported array element type {elem}")),
                }
                Value::Null
            }
            10 => Value::from(self.u64()?),
            11 => Value::from(i64::from_le_bytes(self.array()?)),
            12 => Value::from(f64::from_le_bytes(self.array()?)),
            other => return Err(format!("unknown metadata value type {other}")),
        })
    }
}

fn scalar_size(ty: u32) -> Option<u64> {
    Some(match ty {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        10..=12 => 8,
        _ => return None,
    })
}

/// llama.cpp's `general.file_type` names.
fn file_type_name(t: u64) -> String {
    let name = match t {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        36 => "TQ1_0",
        37 => "TQ2_0",
        _ => return format!("unknown ({t})"),
    };
    name.to_owned()
}

/// Reads `path`'s metadata and tensor table.
pub(crate) fn read(path: &Path) -> Result<GgufDetails, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open the model: {e}"))?;
    parse(BufReader::with_capacity(1 << 16, file))
}

pub(crate) fn parse(input: impl Read) -> Result<GgufDetails, String> {
    let mut r = Reader {
        inner: input,
        budget: MAX_METADATA_BYTES,
    };
    if &r.array::<4>()? != b"GGUF" {
        return Err("not a GGUF file".into());
    }
    let version = r.u32()?;
    if !(2..=3).contains(&version) {
        return Err(format!("unsupported GGUF version {version}"));
    }
    let tensors = r.u64()?;
    let kvs = r.u64()?;
    if tensors > MAX_TENSORS || kvs > MAX_KV {
        return Err("implausible tensor or metadata count".into());
    }
    let mut d = GgufDetails::default();
    let mut file_type = None;
    for _ in 0..kvs {
        let key = r.string(MAX_KEY_LEN)?;
        let ty = r.u32()?;
        let value = r.value(ty)?;
        match key.as_str() {
            "general.architecture" => d.architecture = value.as_str().unwrap_or_default().into(),
            "general.name" => d.name = value.as_str().map(str::to_owned),
            "general.file_type" => file_type = value.as_u64(),
            "tokenizer.chat_template" => {
                d.chat_template = value.as_str().map(str::to_owned);
                continue;
            }
            _ => {}
        }
        if let Some(ctx) = key
            .strip_suffix(".context_length")
            .filter(|arch| *arch == d.architecture)
        {
            let _ = ctx;
            d.context_length = value.as_u64();
        }
        if !value.is_null() {
            let value = match value {
                serde_json::Value::String(s) if s.len() > MAX_KEPT_STRING => {
                    serde_json::Value::String(s.chars().take(MAX_KEPT_STRING).collect())
                }
                v => v,
            };
            d.scalars.insert(key, value);
        }
    }
    d.quantization = file_type.map_or_else(|| "unknown".to_owned(), file_type_name);
    for _ in 0..tensors {
        let _name = r.string(MAX_KEY_LEN)?;
        let dims = r.u32()?;
        if dims > 8 {
            return Err(format!("a tensor with {dims} dimensions"));
        }
        let mut count: u64 = 1;
        for _ in 0..dims {
            count = count.saturating_mul(r.u64()?);
        }
        let _ty = r.u32()?;
        let _offset = r.u64()?;
        d.parameter_count = d.parameter_count.saturating_add(count);
    }
    if let Some(serde_json::Value::Number(_)) = d.scalars.get("general.parameter_count") {
    } else {
        d.scalars.insert(
            "general.parameter_count".into(),
            serde_json::Value::from(d.parameter_count),
        );
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv_string(out: &mut Vec<u8>, key: &str, value: &str) {
        out.extend((key.len() as u64).to_le_bytes());
        out.extend(key.as_bytes());
        out.extend(8u32.to_le_bytes());
        out.extend((value.len() as u64).to_le_bytes());
        out.extend(value.as_bytes());
    }

    fn sample() -> Vec<u8> {
        let mut f = b"GGUF".to_vec();
        f.extend(3u32.to_le_bytes());
        f.extend(2u64.to_le_bytes()); // tensors
        f.extend(5u64.to_le_bytes()); // kvs
        kv_string(&mut f, "general.architecture", "llama");
        kv_string(&mut f, "tokenizer.chat_template", "{{ messages }}");
        // general.file_type = 15 (u32)
        f.extend(17u64.to_le_bytes());
        f.extend(b"general.file_type");
        f.extend(4u32.to_le_bytes());
        f.extend(15u32.to_le_bytes());
        // llama.context_length = 8192 (u32)
        f.extend(20u64.to_le_bytes());
        f.extend(b"llama.context_length");
        f.extend(4u32.to_le_bytes());
        f.extend(8192u32.to_le_bytes());
        // tokenizer.ggml.tokens = ["a", "bc"] (skipped)
        f.extend(21u64.to_le_bytes());
        f.extend(b"tokenizer.ggml.tokens");
        f.extend(9u32.to_le_bytes());
        f.extend(8u32.to_le_bytes());
        f.extend(2u64.to_le_bytes());
        f.extend(1u64.to_le_bytes());
        f.extend(b"a");
        f.extend(2u64.to_le_bytes());
        f.extend(b"bc");
        for (name, dims) in [("w", vec![1000u64, 300]), ("b", vec![7u64])] {
            f.extend((name.len() as u64).to_le_bytes());
            f.extend(name.as_bytes());
            f.extend(u32::try_from(dims.len()).unwrap().to_le_bytes());
            for d in dims {
                f.extend(d.to_le_bytes());
            }
            f.extend(0u32.to_le_bytes());
            f.extend(0u64.to_le_bytes());
        }
        f
    }

    #[test]
    fn reads_family_quantization_context_template_and_parameters() {
        let d = parse(&sample()[..]).unwrap();
        assert_eq!(d.architecture, "llama");
        assert_eq!(d.quantization, "Q4_K_M");
        assert_eq!(d.context_length, Some(8192));
        assert_eq!(d.chat_template.as_deref(), Some("{{ messages }}"));
        assert_eq!(d.parameter_count, 300_007);
        assert_eq!(d.parameter_size(), "300K");
        assert_eq!(d.scalars["llama.context_length"], 8192);
        assert!(!d.scalars.contains_key("tokenizer.ggml.tokens"));
        assert!(!d.scalars.contains_key("tokenizer.chat_template"));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let full = sample();
        for cut in 0..full.len() {
            assert!(parse(&full[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn hostile_lengths_are_refused_before_allocating() {
        let mut f = b"GGUF".to_vec();
        f.extend(3u32.to_le_bytes());
        f.extend(0u64.to_le_bytes());
        f.extend(1u64.to_le_bytes());
        f.extend(u64::MAX.to_le_bytes()); // key length
        assert_eq!(
            parse(&f[..]).unwrap_err(),
            format!(
                "a string of {} bytes is over the limit of {MAX_KEY_LEN}",
                u64::MAX
            )
        );
        let mut f = b"GGUF".to_vec();
        f.extend(3u32.to_le_bytes());
        f.extend(u64::MAX.to_le_bytes());
        f.extend(0u64.to_le_bytes());
        assert_eq!(
            parse(&f[..]).unwrap_err(),
            "implausible tensor or metadata count"
        );
        assert_eq!(
            parse(&b"GGUE\x03\0\0\0"[..]).unwrap_err(),
            "not a GGUF file"
        );
    }
}
