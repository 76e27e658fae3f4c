//! The TE character set (`AT+CSCS`) and text mode: how numbers, bodies and USSD strings
//! cross the AT interface (27.005 §3.1, 27.007 §5.5), and the text-mode header lines.

use super::error::CmsError;
use super::pdu::{self, Alphabet, Decoded, UserData};
use crate::modem::CmdError;

/// `AT+CSCS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// ITU-T T.50 (ASCII): characters outside it show as `?`.
    Ira,
    /// The GSM 7-bit default alphabet, one code per byte (`@` is 0x00).
    Gsm,
    /// UTF-16 code units, each as four hex digits.
    Ucs2,
    /// Octets as two hex digits each (SIMCom).
    Hex,
}

impl Charset {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "IRA" => Some(Self::Ira),
            "GSM" => Some(Self::Gsm),
            "UCS2" => Some(Self::Ucs2),
            "HEX" => Some(Self::Hex),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Ira => "IRA",
            Self::Gsm => "GSM",
            Self::Ucs2 => "UCS2",
            Self::Hex => "HEX",
        }
    }

    /// Characters per TE character of the body (hex digits per character in UCS2/HEX).
    fn width(self) -> usize {
        match self {
            Self::Ira | Self::Gsm => 1,
            Self::Ucs2 => 4,
            Self::Hex => 2,
        }
    }
}

fn text_error(why: &'static str) -> CmdError {
    CmsError::InvalidTextParameter.err(why)
}

/// A string parameter (a number, a USSD string) in the TE character set, as text. In
/// UCS2 a string that is not hex of whole UTF-16 units is taken as it is (clients that
/// switch to UCS2 often leave numbers plain); in HEX numbers stay plain (TinyGSM).
pub fn decode_param(cs: Charset, s: &str) -> String {
    match cs {
        Charset::Ucs2 if s.len().is_multiple_of(4) && !s.is_empty() => match pdu::from_hex(s.as_bytes()) {
            Ok(b) => pdu::ucs2_decode(&b),
            Err(_) => s.to_owned(),
        },
        Charset::Gsm => pdu::gsm7_decode(s.as_bytes()),
        _ => s.to_owned(),
    }
}

/// Text as a string parameter in the TE character set.
pub fn encode_param(cs: Charset, text: &str) -> String {
    match cs {
        Charset::Ucs2 => pdu::to_hex(&pdu::ucs2_encode(text)),
        _ => text.to_owned(),
    }
}

/// The septets of body text typed in the TE character set.
fn septets_of(cs: Charset, body: &[u8]) -> Result<Vec<u8>, CmdError> {
    Ok(match cs {
        Charset::Ira => {
            let s: String = body.iter().map(|b| if b.is_ascii() { *b as char } else { '?' }).collect();
            pdu::gsm7_encode_lossy(&s)
        }
        Charset::Gsm => body.iter().map(|b| b & 0x7F).collect(),
        Charset::Ucs2 => {
            let octets = pdu::from_hex(body).map_err(|_| text_error("UCS2 text is not hex"))?;
            pdu::gsm7_encode_lossy(&pdu::ucs2_decode(&octets))
        }
        Charset::Hex => {
            pdu::from_hex(body).map_err(|_| text_error("HEX text is not hex"))?.iter().map(|b| b & 0x7F).collect()
        }
    })
}

/// A text-mode body (what came between the prompt and Ctrl-Z) as user data for `dcs`:
/// 8-bit and UCS2 bodies are hex octets whatever the character set (27.005 §3.1);
/// 7-bit bodies are in the TE character set. Too long for one message is an error.
pub fn body_to_ud(cs: Charset, dcs: u8, body: &[u8]) -> Result<UserData, CmdError> {
    match pdu::alphabet(dcs) {
        Alphabet::Gsm7 => {
            UserData::gsm7(&septets_of(cs, body)?, &[]).map_err(|_| text_error("text longer than 160 characters"))
        }
        _ => {
            let octets = pdu::from_hex(body).map_err(|_| text_error("8-bit/UCS2 text must be hex"))?;
            UserData::octets(&octets, &[]).map_err(|_| text_error("text longer than 140 octets"))
        }
    }
}

/// A message body for text mode: the bytes shown and their `<length>` in characters.
pub fn ud_to_body(cs: Charset, dcs: u8, d: &Decoded) -> (Vec<u8>, usize) {
    match pdu::alphabet(dcs) {
        Alphabet::Gsm7 => {
            let out: Vec<u8> = match cs {
                Charset::Ira => {
                    pdu::gsm7_decode(&d.body).chars().map(|c| if c.is_ascii() { c as u8 } else { b'?' }).collect()
                }
                Charset::Gsm => d.body.clone(),
                Charset::Ucs2 => pdu::to_hex(&pdu::ucs2_encode(&pdu::gsm7_decode(&d.body))).into_bytes(),
                Charset::Hex => pdu::to_hex(&d.body).into_bytes(),
            };
            let len = out.len() / cs.width();
            (out, len)
        }
        _ => (pdu::to_hex(&d.body).into_bytes(), d.body.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_by_charset() {
        let ud = body_to_ud(Charset::Ira, 0, b"Hi @home").unwrap();
        let d = ud.decode(0, false);
        assert_eq!(d.text(0), "Hi @home");
        assert_eq!(ud_to_body(Charset::Ira, 0, &d), (b"Hi @home".to_vec(), 8));
        assert_eq!(ud_to_body(Charset::Gsm, 0, &d).0[3], 0x00);
        assert_eq!(ud_to_body(Charset::Ucs2, 0, &d), (b"00480069002000400068006F006D0065".to_vec(), 8));
        assert_eq!(ud_to_body(Charset::Hex, 0, &d).0, b"48692000686F6D65".to_vec());
        let ucs = body_to_ud(Charset::Hex, 8, b"D83DDE00").unwrap();
        assert_eq!(ucs.decode(8, false).text(8), "😀");
        assert!(body_to_ud(Charset::Ira, 8, b"xyz").is_err());
        assert!(body_to_ud(Charset::Ira, 0, &[b'a'; 161]).is_err());
        assert!(body_to_ud(Charset::Ira, 0, &[b'a'; 160]).is_ok());
    }

    #[test]
    fn params() {
        assert_eq!(decode_param(Charset::Ucs2, "002B0031"), "+1");
        assert_eq!(decode_param(Charset::Ucs2, "+155"), "+155");
        assert_eq!(encode_param(Charset::Ucs2, "+1"), "002B0031");
        assert_eq!(decode_param(Charset::Hex, "+1555"), "+1555");
    }
}
