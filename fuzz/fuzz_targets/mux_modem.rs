#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sim5360::fuzzing::mux_modem(data));
