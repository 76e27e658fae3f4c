//! The one list of what the module is made of: the device's command areas (V.25ter and
//! identification, network, file system) and the service families. Adding a family means
//! a folder under `service/` and one line in [`SERVICES`]; the core (`modem/`) reads this
//! list and names none of them.

use crate::modem::registry::{Catalog, ServiceDef};
use crate::modem::table::CommandSpec;
use crate::service::{ftp, gnss, http, https, pop3, ppp, sms, smtp, sockets, time, voice};

/// Every service family, with its state type, command rows, and sample settings that take
/// its state away from its defaults (the restart test).
pub static SERVICES: &[ServiceDef] = &[
    ServiceDef::of::<ftp::FtpState>("ftp", ftp::COMMANDS, &["+CFTPSERV=\"h\";+CFTPPORT=2121;+CFTPSSTART"]),
    ServiceDef::of::<http::HttpState>("http", http::COMMANDS, &["+CHTTPACT=\"web\",80,1\rG"]),
    ServiceDef::of::<https::HttpsState>("https", https::COMMANDS, &["+CHTTPSSTART"]),
    ServiceDef::of::<smtp::SmtpState>("smtp", smtp::COMMANDS, &["+SMTPSRV=\"h\",2525;+SMTPSUB=\"s\""]),
    ServiceDef::of::<pop3::Pop3State>("pop3", pop3::COMMANDS, &["+POP3SRV=\"h\",\"u\",\"p\",1110"]),
    ServiceDef::of::<time::TimeState>("nettime", time::COMMANDS, &["+CTZU=1;+CTZR=1;+CNTP=\"ntp.example\",8"])
        .on_network(time::network_changed),
    ServiceDef::of::<gnss::GnssState>("gnss", gnss::COMMANDS, &["+CGPS=1,2;+CGPSINFO=5;+CGPSAUTO=1"])
        .on_state(gnss::report),
    ServiceDef::of::<sockets::SocketState>(
        "sockets",
        sockets::COMMANDS,
        &["+CIPRXGET=1;+CIPCCFG=10,0,0,0,1,0,75000;+CIPTIMEOUT=75000,15000,15000;+NETOPEN"],
    )
    .on_network(sockets::network_changed)
    .on_state(sockets::report),
    ServiceDef::of::<sms::SmsState>(
        "sms",
        sms::COMMANDS,
        &["+CMGF=1;+CSCS=\"UCS2\";+CSMP=49,167,0,8;+CSDH=1;+CPMS=\"ME\",\"ME\",\"ME\";+CNMI=1,2,0,1,0;+CUSD=1"],
    )
    .on_state(sms::report),
    ServiceDef::of::<voice::VoiceState>("voice", voice::COMMANDS, &["D+15550001;"]).on_state(voice::report),
    ServiceDef::of::<ppp::PppState>("ppp", ppp::COMMANDS, &["D*99#"])
        .on_network(ppp::network_changed)
        .on_pdp_down(ppp::pdp_down)
        .on_state(ppp::report),
    ServiceDef::of::<crate::control::World>("world-events", &[], &[]).on_power_on(crate::control::power_on),
    ServiceDef::of::<crate::control::chaos::ChaosState>("chaos", &[], &[])
        .on_power_on(crate::control::chaos::power_on)
        .on_state(crate::control::chaos::report),
];

/// The device's command areas, in table order.
pub static AREAS: &[&[CommandSpec]] = &[
    crate::general::COMMANDS,
    crate::general::device::COMMANDS,
    crate::network::COMMANDS,
    crate::network::radio::COMMANDS,
    crate::network::pdp::COMMANDS,
    crate::efs::COMMANDS,
];

/// The module: what every `ModemConfig` of this crate is built with.
pub static CATALOG: Catalog = Catalog::new(AREAS, SERVICES);

#[cfg(test)]
mod tests {
    use super::*;
    use v250::Form;

    #[test]
    fn names_are_unique_and_upper_case() {
        let mut seen = std::collections::HashSet::new();
        for c in CATALOG.commands() {
            assert!(seen.insert(c.name), "duplicate row {}", c.name);
            assert_eq!(c.name, c.name.to_ascii_uppercase());
            assert!(
                [Form::Exec, Form::Read, Form::Write, Form::Test].iter().any(|f| c.has(*f)),
                "{} has no form",
                c.name
            );
            assert!(c.test.is_none() || c.test_text.is_none(), "{} has two test forms", c.name);
        }
    }

    fn r(s: &str) -> String {
        String::from_utf8(CATALOG.redact(s.as_bytes()).into_owned()).unwrap_or_default()
    }

    #[test]
    fn secrets_are_masked_in_commands_and_answers() {
        assert_eq!(r("AT+CSOCKAUTH=1,1,\"secret\",\"user\"\r"), "AT+CSOCKAUTH=1,1,\"***\",\"user\"\r");
        assert_eq!(r("at+csockauth=1,1,pw,\"u\";+CSQ"), "at+csockauth=1,1,***,\"u\";+CSQ");
        assert_eq!(r("+CSOCKAUTH: 1,1,\"a,b\",\"user\""), "+CSOCKAUTH: 1,1,\"***\",\"user\"");
        assert_eq!(r("AT+CPIN=\"1234\""), "AT+CPIN=\"***\"");
        assert_eq!(r("AT+CPIN=\"12345678\",\"4321\""), "AT+CPIN=\"***\",\"***\"");
        assert_eq!(r("AT+CPIN?"), "AT+CPIN?");
        assert_eq!(r("AT+CPIN=?"), "AT+CPIN=?");
        assert_eq!(r("+CPIN: READY"), "+CPIN: READY");
        assert_eq!(r("AT+CFTPPW=\"hunter2\""), "AT+CFTPPW=\"***\"");
        assert_eq!(r("AT+CFTPSLOGIN=\"h\",21,\"u\",\"pw\",2"), "AT+CFTPSLOGIN=\"h\",21,\"u\",\"***\",2");
    }
}
