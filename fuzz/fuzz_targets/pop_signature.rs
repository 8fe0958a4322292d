//! The signed-nonce scheme: the `PoP-Signature` header and registered public keys. No input
//! panics, and no made-up signature verifies.
#![no_main]

use authd::possession::PopPublicKey;
use authd_fuzz::harness;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let harness = harness();
    match data.split_first() {
        Some((0, pem)) => {
            let _ = PopPublicKey::parse(&String::from_utf8_lossy(pem));
        }
        Some((_, signature)) => {
            let signature = String::from_utf8_lossy(signature);
            let message = format!("nonce{}", harness.token);
            assert!(
                !harness.pop_key.verifies(message.as_bytes(), &signature),
                "a signature made without the private key verified"
            );
        }
        None => {}
    }
});
