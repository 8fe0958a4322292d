//! The access-token verifier: any input is refused or verified without a panic, and nothing
//! verifies but the real token it was made from.
#![no_main]

use authd_fuzz::{harness, jws_from};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let harness = harness();
    let token = jws_from(data, &harness.token);
    let verified = harness
        .runtime
        .block_on(harness.state.verifier.verify(&token));
    if verified.is_ok() {
        assert_eq!(token, harness.token, "a token authd did not issue verified");
    }
});
