//! The independent decodes (`oracle/*.jsonl.gz`, tshark + Open Markets Initiative dissectors)
//! and a strict field-by-field comparison with `fh decode --format json`.
//!
//! Rules, both ways (every field of ours must be in the oracle and every oracle key must be
//! accounted for):
//! - our `snake_case` name with underscores removed is the oracle key, but for a short alias
//!   table of older dissector labels ([`ALIASES`]);
//! - integers compare as integers, prices (our strings with a decimal point) as exact decimals
//!   (`"80.5200"` == `"80.52"`), everything else as exact strings;
//! - the oracle omits alpha fields that are all spaces: our empty string matches a missing key;
//! - the oracle spells flag bytes out (`"saleconditionflags": "Odd Lot|Extended Hours"`) and
//!   follows them with one key per bit field, least significant first (`unusedN` is N bits):
//!   those keys are folded back into the byte and compared with ours; when the byte is 0 the
//!   dissector leaves the spelled-out key away and prints only the bit keys;
//! - `messageindex`, `messagelength`, `messagetype` are framing: the type is compared with our
//!   `type`, the index and length are checked for presence only.
//! - Context: ITCH `hdr.session`/`hdr.sequencenumber` give our `session` and `seq` (first + index
//!   − 1); IEX `hdr.sessionid`/`firstmessagesequencenumber`/`sendtime` give `session_id`, `seq`
//!   and `send_time`. Oracle lines with `"msg": null` (heartbeats) have no counterpart.

use serde_json::{Map, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;

/// (message type, our field name, oracle key) where the oracle's label is not ours.
pub const ALIASES: &[(&str, &str, &str)] = &[
    ("Y", "stock_locate", "locatecode"),
    ("X", "cancelled_shares", "canceledshares"),
    ("Q", "shares", "crossshares"),
];

/// (message type, our field name): fields the TOPS 1.5 dissector leaves out when they are 0.
pub const OMITTED_WHEN_ZERO: &[(&str, &str)] = &[("A", "extension_number")];

/// Keys of our JSON that are context, not message fields.
const CONTEXT: &[&str] = &[
    "type",
    "frame",
    "ts",
    "session",
    "seq",
    "session_id",
    "send_time",
];

/// One oracle line: the frame, its transport header and the message (never `null` here).
#[derive(Debug, Clone)]
pub struct OracleMsg {
    /// 1-based frame number in the capture.
    pub frame: u64,
    /// Transport header fields.
    pub hdr: Map<String, Value>,
    /// Message fields, in the dissector's order.
    pub msg: Map<String, Value>,
}

/// Reads an oracle file, dropping message-less lines (heartbeats).
pub fn load(path: &Path) -> Vec<OracleMsg> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let r = BufReader::new(flate2::read::GzDecoder::new(f));
    let mut out = Vec::new();
    for (i, line) in r.lines().enumerate() {
        let line = line.unwrap_or_else(|e| panic!("{}: line {}: {e}", path.display(), i + 1));
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{}: line {}: {e}", path.display(), i + 1));
        let Value::Object(mut o) = v else {
            panic!("{}: line {}: not an object", path.display(), i + 1)
        };
        let frame = o["frame"].as_u64().expect("frame");
        let hdr = match o.remove("hdr") {
            Some(Value::Object(h)) => h,
            _ => Map::new(),
        };
        if let Some(Value::Object(msg)) = o.remove("msg") {
            out.push(OracleMsg { frame, hdr, msg });
        }
    }
    out
}

fn as_int(v: &Value) -> Option<i128> {
    match v {
        Value::Number(n) => n.as_i64().map(i128::from).or(n.as_u64().map(i128::from)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Exact decimal as (mantissa, scale) normalised without trailing zeros.
fn as_decimal(s: &str) -> Option<(i128, u32)> {
    let (neg, body) = s.strip_prefix('-').map_or((false, s), |b| (true, b));
    let (i, f) = body.split_once('.').unwrap_or((body, ""));
    let f = f.trim_end_matches('0');
    if i.is_empty()
        || !i.bytes().all(|b| b.is_ascii_digit())
        || !f.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let m: i128 = format!("{i}{f}").parse().ok()?;
    Some((if neg { -m } else { m }, f.len() as u32))
}

fn values_equal(ours: &Value, oracle: &Value) -> bool {
    match ours {
        Value::Number(_) => as_int(ours).is_some() && as_int(ours) == as_int(oracle),
        Value::String(s) => {
            let o = oracle.as_str().unwrap_or_default();
            if s.contains('.') {
                if let (Some(a), Some(b)) = (as_decimal(s), as_decimal(o)) {
                    return a == b;
                }
            }
            s == o
        }
        _ => false,
    }
}

/// Folds the one-byte bit-field keys starting at `from` (least significant first, `unusedN`
/// being N bits) into the byte's value, marking them used; `None` unless exactly 8 bits fold.
fn fold_bits(
    msg: &Map<String, Value>,
    keys: &[&String],
    from: usize,
    used: &mut [bool],
) -> Option<i128> {
    let (mut bits, mut shift, mut j) = (0i128, 0u32, from);
    while j < keys.len() && shift < 8 {
        let k = keys[j].as_str();
        let width = k
            .strip_prefix("unused")
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(1);
        let v = as_int(&msg[k]).filter(|v| (0..1 << width).contains(v))?;
        bits |= v << shift;
        shift += width;
        j += 1;
    }
    if shift != 8 {
        return None;
    }
    used[from..j].iter_mut().for_each(|u| *u = true);
    Some(bits)
}

/// Compares one message of ours (a JSON object from `fh decode --format json`) with the oracle.
/// Returns a description of every mismatch (empty when equal).
pub fn compare(ours: &Map<String, Value>, o: &OracleMsg) -> Vec<String> {
    let mut bad = Vec::new();
    let ty = ours
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string();
    let oty = o
        .msg
        .get("messagetype")
        .and_then(Value::as_str)
        .unwrap_or("?");
    if ty != oty {
        bad.push(format!("type: ours {ty:?}, oracle {oty:?}"));
        return bad;
    }
    let index = o.msg.get("messageindex").and_then(as_int).unwrap_or(0);
    if index == 0 || !o.msg.contains_key("messagelength") {
        bad.push("oracle line without messageindex/messagelength".into());
    }
    // Context.
    let ctx_pairs: Vec<(&str, Option<i128>)> = if o.hdr.contains_key("sessionid") {
        vec![
            ("session_id", o.hdr.get("sessionid").and_then(as_int)),
            (
                "seq",
                o.hdr
                    .get("firstmessagesequencenumber")
                    .and_then(as_int)
                    .map(|s| s + index - 1),
            ),
            ("send_time", o.hdr.get("sendtime").and_then(as_int)),
        ]
    } else {
        vec![(
            "seq",
            o.hdr
                .get("sequencenumber")
                .and_then(as_int)
                .map(|s| s + index - 1),
        )]
    };
    for (k, want) in ctx_pairs {
        let got = ours.get(k).and_then(as_int);
        if got != want {
            bad.push(format!("{k}: ours {got:?}, oracle {want:?}"));
        }
    }
    if let Some(sess) = o.hdr.get("session").and_then(Value::as_str) {
        let got = ours
            .get("session")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if got != sess.trim_end() {
            bad.push(format!("session: ours {got:?}, oracle {sess:?}"));
        }
    }
    if ours.get("frame").and_then(as_int) != Some(i128::from(o.frame)) {
        bad.push(format!(
            "frame: ours {:?}, oracle {}",
            ours.get("frame"),
            o.frame
        ));
    }
    // Message fields.
    let keys: Vec<&String> = o.msg.keys().collect();
    let mut used = vec![false; keys.len()];
    for (i, k) in keys.iter().enumerate() {
        if matches!(k.as_str(), "messageindex" | "messagelength" | "messagetype") {
            used[i] = true;
        }
    }
    // Position after the last oracle key matched: where an omitted flag byte's bits stand.
    let mut next = 0;
    for (name, val) in ours {
        if CONTEXT.contains(&name.as_str()) {
            continue;
        }
        let key = ALIASES
            .iter()
            .find(|(t, n, _)| *t == ty && n == name)
            .map_or_else(|| name.replace('_', ""), |(_, _, k)| (*k).to_string());
        let Some(pos) = keys.iter().position(|k| **k == key) else {
            let zero = as_int(val) == Some(0);
            if zero && OMITTED_WHEN_ZERO.contains(&(ty.as_str(), name.as_str())) {
                continue;
            }
            while next < keys.len() && used[next] {
                next += 1;
            }
            match fold_bits(&o.msg, &keys, next, &mut used) {
                Some(bits) if as_int(val) == Some(bits) => {}
                _ if val.as_str() == Some("") => {}
                _ => bad.push(format!("{name}: ours {val}, not in oracle")),
            }
            continue;
        };
        used[pos] = true;
        next = pos + 1;
        let ov = &o.msg[&key];
        if as_int(val).is_some() && as_int(ov).is_none() && ov.is_string() {
            // A flag byte the oracle spelled out: fold the bit keys that follow it.
            let bits = fold_bits(&o.msg, &keys, pos + 1, &mut used);
            if bits.is_none() || as_int(val) != bits {
                bad.push(format!("{name}: ours {val}, oracle {ov} (bits {bits:?})"));
            }
        } else if !values_equal(val, ov) {
            bad.push(format!("{name}: ours {val}, oracle {ov}"));
        }
    }
    for (i, k) in keys.iter().enumerate() {
        if !used[i] {
            bad.push(format!(
                "oracle key {k} ({}) has no field of ours",
                o.msg[*k]
            ));
        }
    }
    bad
}
