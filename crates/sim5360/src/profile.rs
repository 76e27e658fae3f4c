//! The one place that knows which module is being emulated.
//!
//! Handlers never branch on the model: they ask the [`Profile`] for the wording or
//! behaviour that differs (identity strings, boot URCs, and later each service's
//! per-model result lines).

use clap::ValueEnum;

/// Module models whose behaviour can be selected with `--profile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Model {
    /// SIMCom SIM5360 (WCDMA), the default.
    Sim5360,
    /// SIMCom SIM5320 (older WCDMA sibling): same command set, `START` boot URC.
    Sim5320,
    /// SIMCom SIM7600 (LTE): `RDY` boot URC and LTE-family result lines.
    Sim7600,
}

/// Identity strings; each can be overridden on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub manufacturer: String,
    pub model: String,
    pub revision: String,
    pub imei: String,
    pub imsi: String,
    pub iccid: String,
    pub operator: String,
    /// The SIM's own number (`AT+CNUM`); empty when the SIM holds none.
    pub msisdn: String,
}

/// Everything that differs between models.
#[derive(Debug, Clone)]
pub struct Profile {
    pub model: Model,
    pub identity: Identity,
    /// `+GCAP:` list.
    pub gcap: &'static str,
    /// Access technology reported by `AT+COPS?` (2 = UTRAN, 7 = E-UTRAN).
    pub act: u8,
}

/// Append the Luhn check digit to 14 digits (IMEI format).
pub fn luhn_complete(body: &str) -> Option<String> {
    if body.len() != 14 || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    Some(format!("{body}{}", (10 - sum % 10) % 10))
}

/// True when `imei` is 15 digits with a valid Luhn check digit.
pub fn imei_is_valid(imei: &str) -> bool {
    imei.len() == 15 && imei.is_ascii() && luhn_complete(&imei[..14]).as_deref() == Some(imei)
}

impl Profile {
    /// Defaults for a model. Revision strings are plausible firmware names (the exact
    /// strings of each variant are UNCERTAIN in the spec; see docs/commands.md).
    pub fn new(model: Model) -> Self {
        let (name, revision, tac, gcap, act) = match model {
            Model::Sim5360 => ("SIMCOM_SIM5360E", "SIM5360E_V3.5", "86131100", "+CGSM,+DS,+ES", 2),
            Model::Sim5320 => ("SIMCOM_SIM5320E", "SIM5320E_V1.5", "86111100", "+CGSM,+DS,+ES", 2),
            Model::Sim7600 => ("SIMCOM_SIM7600E", "LE20B04SIM7600M22", "86245103", "+CGSM,+FCLASS,+DS", 7),
        };
        // The body is 14 ASCII digits by construction, so Luhn completion cannot fail.
        let imei = luhn_complete(&format!("{tac}000042")).unwrap_or_default();
        Self {
            model,
            identity: Identity {
                manufacturer: "SIMCOM INCORPORATED".into(),
                model: name.into(),
                revision: revision.into(),
                imei,
                imsi: "001010123456789".into(),
                iccid: "89860012345678901234".into(),
                operator: "Test Network".into(),
                msisdn: "+15555550100".into(),
            },
            gcap,
            act,
        }
    }

    /// An LTE module (the SIM7600): LTE-only commands (`AT+CEREG`, `AT+CGNSSINFO`), LTE
    /// radio answers, and the LTE family's wording.
    pub fn lte(&self) -> bool {
        self.model == Model::Sim7600
    }

    /// Boot URCs in order; the first is the one after which commands are accepted.
    pub fn boot_urcs(&self, sim_locked: bool) -> Vec<&'static str> {
        let first = match self.model {
            Model::Sim5360 | Model::Sim5320 => "START",
            Model::Sim7600 => "RDY",
        };
        if sim_locked {
            return vec![first, "+CPIN: SIM PIN"];
        }
        vec![first, "+CPIN: READY", "OPL UPDATING", "PNN UPDATING", "SMS DONE", "CALL READY", "PB DONE"]
    }

    /// The line a SIM taken out gives (SIMCom's WCDMA and LTE modules alike).
    pub fn sim_removed_urc(&self) -> &'static str {
        "+SIMCARD: NOT AVAILABLE"
    }

    /// URCs that follow a successful PIN entry (the rest of the boot sequence).
    pub fn after_pin_urcs(&self) -> Vec<&'static str> {
        vec!["+CPIN: READY", "SMS DONE", "CALL READY", "PB DONE"]
    }

    /// FTPS commands answer `OK` at once and report `+CFTPSxxx: <err>` later (LTE family),
    /// instead of answering when done (WCDMA).
    pub fn ftps_async(&self) -> bool {
        self.model == Model::Sim7600
    }

    /// Uploads from the serial port take a length and a `>` prompt (LTE family) besides
    /// the `+CFTPPUT: BEGIN` ... Ctrl-Z form.
    pub fn upload_length_form(&self) -> bool {
        self.model == Model::Sim7600
    }

    /// `AT+CFTPSPUT="<path>",<len>` keeps the upload open for more `AT+CFTPSPUT=<len>`
    /// chunks until `AT+CFTPSPUT` (WCDMA, as a SIM5320 driver uses it); on the LTE family
    /// the length form is one whole upload.
    pub fn ftps_chunked_put(&self) -> bool {
        self.model != Model::Sim7600
    }

    /// The delete command of FTPS: `+CFTPSDELE` on the LTE family, `+CFTPSDEL` (seed TOC)
    /// on WCDMA; both spellings are accepted, this one names the result line.
    pub fn ftps_dele_name(&self) -> &'static str {
        if self.model == Model::Sim7600 { "+CFTPSDELE" } else { "+CFTPSDEL" }
    }

    /// HTTPS commands answer `OK` at once and report `+CHTTPSxxx: <err>` later (LTE).
    pub fn https_async(&self) -> bool {
        self.model == Model::Sim7600
    }

    /// The URC telling that HTTPS response data is cached.
    pub fn https_recv_event(&self) -> &'static str {
        if self.model == Model::Sim7600 { "+CHTTPS:RECV EVENT" } else { "+CHTTPS: RECV EVENT" }
    }

    /// `AT+CGMR` answer line.
    /// The socket family's unknown-error `<err>` (spec §4.1: 255 in the WCDMA/SIM7600-era
    /// tables, 12 in the A76XX one; the SIM7600 profile follows its own era's 255 too,
    /// docs/commands.md).
    pub fn socket_unknown_error(&self) -> u16 {
        255
    }

    pub fn cgmr_line(&self) -> String {
        format!("+CGMR: {}", self.identity.revision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn() {
        // A well-known valid IMEI.
        assert!(imei_is_valid("490154203237518"));
        assert!(!imei_is_valid("490154203237519"));
        // Fifteen bytes with a two-byte character across byte 14: invalid, no panic.
        assert!(!imei_is_valid("4901542032375\u{e9}"));
        for m in [Model::Sim5360, Model::Sim5320, Model::Sim7600] {
            assert!(imei_is_valid(&Profile::new(m).identity.imei));
        }
    }
}
