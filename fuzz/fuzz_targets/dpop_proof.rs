//! DPoP proof checking (RFC 9449 §4.3): any proof is accepted or refused without a panic.
#![no_main]

use authd::possession::ProofContext;
use authd_fuzz::{harness, jws_of_parts};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let harness = harness();
    let proof = match data.split_first() {
        Some((0, raw)) => String::from_utf8_lossy(raw).into_owned(),
        Some((_, parts)) => jws_of_parts(parts),
        None => String::new(),
    };
    let context = ProofContext {
        method: "GET",
        path: "/me",
        access_token: Some(&harness.token),
    };
    let _ = harness
        .runtime
        .block_on(harness.state.dpop.verify(&proof, context));
});
