//! `AT+CRSM`, restricted SIM access (27.007 §8.18): the elementary files a host reads
//! through it, made from the SIM's identity. ModemManager reads the ICCID, EF-AD (the MNC
//! length), EF-SPN and EF-ECC this way; gateways read EF-MSISDN. Contents follow
//! 3GPP TS 31.102 (USIM) and 51.011 (SIM); status words are the card's (`144,0` success,
//! `106,130` file not found, `103,<n>` wrong length).

use crate::modem::{CmdError, Ctx, Reply};
use crate::profile::Identity;
use v250::Args;

/// `READ BINARY`, `READ RECORD`, `GET RESPONSE`, `UPDATE BINARY`, `UPDATE RECORD`, `STATUS`.
const READ_BINARY: i64 = 176;
const READ_RECORD: i64 = 178;
const GET_RESPONSE: i64 = 192;
const UPDATE_BINARY: i64 = 214;
const UPDATE_RECORD: i64 = 220;
const STATUS: i64 = 242;

/// The files there are: id, whether it is a record file, its contents.
fn file(id: &Identity, fid: i64) -> Option<(bool, Vec<u8>)> {
    Some(match fid {
        // EF-ICCID (2FE2): 10 bytes, BCD with the nibbles of each byte swapped, F-padded.
        0x2FE2 => (false, swapped_bcd(&id.iccid, 10)),
        // EF-IMSI (6F07): its length, then the digits with the parity nibble first.
        0x6F07 => (false, imsi(&id.imsi)),
        // EF-AD (6FAD): normal operation, no ciphering indicator, MNC length.
        0x6FAD => (false, vec![0x00, 0x00, 0x00, mnc_len(&id.imsi)]),
        // EF-SPN (6F46): display condition, then the name in the GSM default alphabet.
        0x6F46 => (false, spn(&id.operator)),
        // EF-ECC (6FB7): emergency numbers, 3 BCD bytes each.
        0x6FB7 => (false, [swapped_bcd("112", 3), swapped_bcd("911", 3)].concat()),
        // EF-MSISDN (6F40): one record, no alpha identifier.
        0x6F40 => (true, msisdn(&id.msisdn)),
        _ => return None,
    })
}

/// `digits` as swapped BCD in `len` bytes (`89 01` -> `98 10`), F-padded.
fn swapped_bcd(digits: &str, len: usize) -> Vec<u8> {
    let mut nibbles: Vec<u8> = digits.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect();
    nibbles.resize(len * 2, 0xF);
    nibbles.chunks(2).map(|p| p[0] | (p[1] << 4)).collect()
}

fn imsi(imsi: &str) -> Vec<u8> {
    let digits: String = imsi.chars().filter(char::is_ascii_digit).collect();
    // The first nibble is the type (1: IMSI) with the odd-length parity bit (8).
    let parity = if digits.len() % 2 == 1 { 9 } else { 1 };
    let mut nibbles = vec![parity];
    nibbles.extend(digits.bytes().map(|b| b - b'0'));
    nibbles.resize(16, 0xF);
    let body: Vec<u8> = nibbles.chunks(2).map(|p| p[0] | (p[1] << 4)).collect();
    let mut out = vec![8];
    out.extend(body);
    out
}

/// Two-digit MNCs unless the home network's country uses three (North America and India,
/// MCC 3xx and 405/406).
fn mnc_len(imsi: &str) -> u8 {
    let mcc = imsi.get(..3).unwrap_or("");
    if mcc.starts_with('3') || matches!(mcc, "405" | "406") { 3 } else { 2 }
}

fn spn(name: &str) -> Vec<u8> {
    // The GSM 7-bit default alphabet matches ASCII for letters, digits and space; anything
    // else is shown as a space rather than as a wrong character.
    let mut out = vec![0x01];
    out.extend(name.bytes().take(16).map(|b| if b.is_ascii_alphanumeric() || b == b' ' { b } else { b' ' }));
    out.resize(17, 0xFF);
    out
}

fn msisdn(number: &str) -> Vec<u8> {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let mut out = Vec::with_capacity(14);
    if digits.is_empty() {
        out.resize(14, 0xFF);
        return out;
    }
    let bcd = swapped_bcd(&digits, 10);
    let used = digits.len().div_ceil(2).min(10);
    out.push(u8::try_from(used + 1).unwrap_or(11));
    out.push(if number.starts_with('+') { 0x91 } else { 0x81 });
    out.extend(bcd);
    out.extend([0xFF, 0xFF]);
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// `AT+CRSM=<command>[,<fileid>[,<P1>,<P2>,<P3>[,<data>[,<pathid>]]]]`:
/// `+CRSM: <sw1>,<sw2>[,"<response>"]`.
pub fn crsm(ctx: &mut Ctx, mut args: Args<'_>) -> Result<Reply, CmdError> {
    let command = args.next_int()?;
    let fid = args.opt_int_in(0..=0xFFFF)?;
    let p1 = args.opt_int_in(0..=255)?.unwrap_or(0);
    let p2 = args.opt_int_in(0..=255)?.unwrap_or(0);
    let p3 = args.opt_int_in(0..=255)?.unwrap_or(0);
    let _data = args.opt_str()?;
    let _path = args.opt_str()?;
    args.finish()?;
    if !matches!(command, READ_BINARY | READ_RECORD | GET_RESPONSE | UPDATE_BINARY | UPDATE_RECORD | STATUS) {
        return Err(args.invalid("command is 176, 178, 192, 214, 220 or 242").into());
    }
    ctx.net.require_sim()?;
    let sw = |a: u8, b: u8| Ok(Reply::line(format!("+CRSM: {a},{b}")));
    if command == STATUS {
        return sw(144, 0);
    }
    let Some(fid) = fid else { return Err(args.invalid("a file id is needed").into()) };
    let Some((record, body)) = file(&ctx.profile.identity, fid) else { return sw(106, 130) };
    let want = usize::try_from(p3).unwrap_or(0);
    let data = match command {
        READ_BINARY if !record => {
            let offset = usize::try_from((p1 << 8) | p2).unwrap_or(usize::MAX);
            let Some(rest) = body.get(offset..) else { return sw(107, 0) };
            match want {
                0 => rest.to_vec(),
                n if n <= rest.len() => rest[..n].to_vec(),
                _ => return sw(103, u8::try_from(rest.len()).unwrap_or(0)),
            }
        }
        // One record, number 1 (P1), read absolutely (P2 = 4).
        READ_RECORD if record => {
            if p1 != 1 || p2 != 4 {
                return sw(106, 131);
            }
            match want {
                0 => body,
                n if n == body.len() => body,
                _ => return sw(103, u8::try_from(body.len()).unwrap_or(0)),
            }
        }
        READ_BINARY | READ_RECORD => return sw(105, 129),
        // The card's answer to SELECT, an FCP template (TS 102 221 §11.1.1.3): the file's
        // structure, id and size are what a host uses.
        GET_RESPONSE => {
            let size = u16::try_from(body.len()).unwrap_or(u16::MAX).to_be_bytes();
            let [hi, lo] = u16::try_from(fid).unwrap_or(0).to_be_bytes();
            let mut fcp =
                if record { vec![0x82, 0x05, 0x42, 0x21, 0x00, size[1], 0x01] } else { vec![0x82, 0x02, 0x41, 0x21] };
            fcp.extend([0x83, 0x02, hi, lo, 0x80, 0x02, size[0], size[1], 0x8A, 0x01, 0x05]);
            let mut out = vec![0x62, u8::try_from(fcp.len()).unwrap_or(0)];
            out.extend(fcp);
            out
        }
        // The SIM's files are the operator's: writing needs its keys.
        _ => return sw(105, 130),
    };
    Ok(Reply::line(format!("+CRSM: 144,0,\"{}\"", hex(&data))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_follow_ts_31_102() {
        assert_eq!(hex(&swapped_bcd("8901260000000000042", 10)), "981062000000000040F2");
        assert_eq!(hex(&imsi("001010123456789")), "080910101032547698");
        assert_eq!(mnc_len("310260"), 3);
        assert_eq!(mnc_len("26201"), 2);
        assert_eq!(hex(&spn("Test Network")), "0154657374204E6574776F726BFFFFFFFF");
        assert_eq!(hex(&msisdn("+15555550100")), "07915155550501F0FFFFFFFFFFFF");
        assert_eq!(msisdn(""), vec![0xFF; 14]);
    }
}
