//! Signature tests. The fixed vectors are the ones shared by the official
//! helper libraries' test suites (PROTOCOLS.md); matching them byte for byte
//! is the only evidence we have that Twilio would agree with us.

use super::*;
use proptest::prelude::*;

const TOKEN: &str = "12345";
const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
const SIGNED_AS_GIVEN: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
const SIGNED_WITH_443: &str = "kvajT1Ptam85bY51eRf/AJRuM3w=";
const SIGNED_HTTP_WITH_80: &str = "0ZXoZLH/DfblKGATFgpif+LLRf4=";
const SIGNED_HTTP_WITH_1234: &str = "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=";

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// Deliberately out of order, so the tests prove the sorting.
fn params() -> Vec<(String, String)> {
    pairs(&[
        ("To", "+18005551212"),
        ("CallSid", "CA1234567890ABCDE"),
        ("From", "+14158675309"),
        ("Digits", "1234"),
        ("Caller", "+14158675309"),
    ])
}

#[test]
fn the_shared_vector_signs_the_url_as_given() {
    assert_eq!(compute(TOKEN, URL, &params()), SIGNED_AS_GIVEN);
}

#[test]
fn the_shared_vectors_sign_the_urls_with_explicit_ports() {
    let with_443 = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
    let http_with_80 = "http://mycompany.com:80/myapp.php?foo=1&bar=2";
    let http_with_1234 = "http://mycompany.com:1234/myapp.php?foo=1&bar=2";
    assert_eq!(compute(TOKEN, with_443, &params()), SIGNED_WITH_443);
    assert_eq!(compute(TOKEN, http_with_80, &params()), SIGNED_HTTP_WITH_80);
    assert_eq!(
        compute(TOKEN, http_with_1234, &params()),
        SIGNED_HTTP_WITH_1234
    );
}

#[test]
fn a_signature_over_the_url_as_given_validates() {
    assert!(validate(&[TOKEN], URL, &params(), SIGNED_AS_GIVEN));
}

#[test]
fn a_signature_with_the_default_https_port_added_validates() {
    assert!(validate(&[TOKEN], URL, &params(), SIGNED_WITH_443));
}

#[test]
fn a_signature_with_the_default_http_port_added_validates() {
    let http = "http://mycompany.com/myapp.php?foo=1&bar=2";
    assert!(validate(&[TOKEN], http, &params(), SIGNED_HTTP_WITH_80));
}

#[test]
fn a_signature_over_an_http_url_with_a_custom_port_validates() {
    let http_with_1234 = "http://mycompany.com:1234/myapp.php?foo=1&bar=2";
    assert!(validate(
        &[TOKEN],
        http_with_1234,
        &params(),
        SIGNED_HTTP_WITH_1234
    ));
}

#[test]
fn a_request_on_a_custom_port_validates_against_the_signature_without_it() {
    let with_1234 = "https://mycompany.com:1234/myapp.php?foo=1&bar=2";
    assert!(validate(&[TOKEN], with_1234, &params(), SIGNED_AS_GIVEN));
}

#[test]
fn a_request_with_the_default_port_validates_against_the_signature_without_it() {
    let with_443 = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
    assert!(validate(&[TOKEN], with_443, &params(), SIGNED_AS_GIVEN));
}

#[test]
fn the_port_variant_of_another_scheme_does_not_validate() {
    // The :80 variant belongs to http; https must not accept it.
    assert!(!validate(&[TOKEN], URL, &params(), SIGNED_HTTP_WITH_80));
}

#[test]
fn a_wrong_token_is_rejected() {
    assert!(!validate(&["54321"], URL, &params(), SIGNED_AS_GIVEN));
}

#[test]
fn a_tampered_parameter_is_rejected() {
    let mut tampered = params();
    tampered[0].1 = "+18005551213".to_owned();
    assert!(!validate(&[TOKEN], URL, &tampered, SIGNED_AS_GIVEN));
}

#[test]
fn an_added_parameter_is_rejected() {
    let mut extended = params();
    extended.push(("CallStatus".to_owned(), "ringing".to_owned()));
    assert!(!validate(&[TOKEN], URL, &extended, SIGNED_AS_GIVEN));
}

#[test]
fn a_tampered_url_is_rejected() {
    let other = "https://mycompany.com/myapp.php?foo=1&bar=3";
    assert!(!validate(&[TOKEN], other, &params(), SIGNED_AS_GIVEN));
}

#[test]
fn a_repeated_parameter_contributes_each_value_sorted_and_once() {
    // twilio-python's vector: names sorted, values sorted, duplicates dropped.
    let repeated = pairs(&[
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
        ("Digits", "1234"),
    ]);
    assert_eq!(
        compute(TOKEN, URL, &repeated),
        "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    );
}

#[test]
fn a_repeated_parameter_is_not_the_same_as_a_single_value() {
    let once = pairs(&[("Digits", "1234")]);
    let twice = pairs(&[("Digits", "1234"), ("Digits", "5678")]);
    assert_ne!(compute(TOKEN, URL, &once), compute(TOKEN, URL, &twice));
}

#[test]
fn the_secondary_token_is_accepted_during_rotation() {
    let signed_with_new = compute("new-token", URL, &params());
    assert!(validate(
        &["old-token", "new-token"],
        URL,
        &params(),
        &signed_with_new
    ));
    assert!(!validate(&["old-token"], URL, &params(), &signed_with_new));
}

#[test]
fn a_forged_signature_is_rejected() {
    let forged = compute("attacker-guess", URL, &params());
    assert!(!validate(&[TOKEN], URL, &params(), &forged));
    assert!(!validate(&[TOKEN], URL, &params(), "not base64 at all"));
    // A prefix of the right signature must not pass a short comparison.
    assert!(!validate(&[TOKEN], URL, &params(), &SIGNED_AS_GIVEN[..10]));
}

#[test]
fn an_empty_signature_is_rejected() {
    assert!(!validate(&[TOKEN], URL, &params(), ""));
}

#[test]
fn an_empty_token_list_is_rejected() {
    assert!(!validate(&[], URL, &params(), SIGNED_AS_GIVEN));
}

#[test]
fn a_websocket_handshake_signed_over_the_wss_url_validates() {
    let wss = "wss://example.com/ws/twilio-media";
    let signature = compute(TOKEN, wss, &[]);
    assert!(validate(&[TOKEN], wss, &[], &signature));
    let with_443 = compute(TOKEN, "wss://example.com:443/ws/twilio-media", &[]);
    assert!(validate(&[TOKEN], wss, &[], &with_443));
}

const BODY: &[u8] = br#"{"property": "value", "boolean": true}"#;
const BODY_HASH: &str = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
/// twilio-python's vector for a JSON body signed through `bodySHA256`.
const SIGNED_WITH_BODY: &str = "a9nBmqA0ju/hNViExpshrM61xv4=";

fn url_with_body_hash() -> String {
    format!("{URL}&bodySHA256={BODY_HASH}")
}

#[test]
fn a_json_body_with_the_shared_vector_validates() {
    assert!(validate_with_body(
        &[TOKEN],
        &url_with_body_hash(),
        BODY,
        SIGNED_WITH_BODY
    ));
}

#[test]
fn a_tampered_json_body_is_rejected() {
    let tampered = br#"{"property": "value", "boolean": false}"#;
    assert!(!validate_with_body(
        &[TOKEN],
        &url_with_body_hash(),
        tampered,
        SIGNED_WITH_BODY
    ));
}

#[test]
fn a_json_body_without_a_body_hash_in_the_url_is_rejected() {
    let signature = compute(TOKEN, URL, &[]);
    assert!(!validate_with_body(&[TOKEN], URL, BODY, &signature));
}

#[test]
fn a_json_body_with_two_body_hashes_is_rejected() {
    let url = format!("{URL}&bodySHA256={BODY_HASH}&bodySHA256={BODY_HASH}");
    let signature = compute(TOKEN, &url, &[]);
    assert!(!validate_with_body(&[TOKEN], &url, BODY, &signature));
}

#[test]
fn a_json_body_whose_url_signature_is_wrong_is_rejected() {
    assert!(!validate_with_body(
        &["54321"],
        &url_with_body_hash(),
        BODY,
        SIGNED_WITH_BODY
    ));
}

#[test]
fn url_variants_strip_or_add_the_port_as_text() {
    assert_eq!(
        url_variants("https://h.com:8443/p?q=1"),
        ["https://h.com:8443/p?q=1", "https://h.com/p?q=1"]
    );
    assert_eq!(
        url_variants("https://h.com?q=1"),
        ["https://h.com?q=1", "https://h.com:443?q=1"]
    );
    assert_eq!(
        url_variants("ws://[::1]/media"),
        ["ws://[::1]/media", "ws://[::1]:80/media"]
    );
    assert_eq!(
        url_variants("https://user:pw@h.com:99/"),
        ["https://user:pw@h.com:99/", "https://user:pw@h.com/"]
    );
    assert_eq!(url_variants("not a url"), ["not a url"]);
    assert_eq!(url_variants("https://"), ["https://"]);
}

fn arb_params() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(("[A-Za-z]{1,12}", any::<String>()), 0..8)
}

/// Distinct names, so that changing one value cannot be undone by the
/// sorting or the de-duplication.
fn arb_distinct_params() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::btree_map("[A-Za-z]{1,12}", any::<String>(), 1..8)
        .prop_map(|map| map.into_iter().collect())
}

proptest! {
    #[test]
    fn a_computed_signature_always_validates(
        token in "[a-f0-9]{32}",
        path in "[a-z/]{0,20}",
        params in arb_params(),
    ) {
        let url = format!("https://example.com/{path}");
        let signature = compute(&token, &url, &params);
        prop_assert!(validate(&[token.as_str()], &url, &params, &signature));
    }

    #[test]
    fn the_parameter_order_never_matters(mut params in arb_params()) {
        let signature = compute(TOKEN, URL, &params);
        params.reverse();
        prop_assert_eq!(compute(TOKEN, URL, &params), signature);
    }

    #[test]
    fn changing_any_parameter_value_breaks_the_signature(
        params in arb_distinct_params(),
        index in any::<prop::sample::Index>(),
        new_value in any::<String>(),
    ) {
        let signature = compute(TOKEN, URL, &params);
        let mut changed = params.clone();
        let slot = index.index(changed.len());
        prop_assume!(changed[slot].1 != new_value);
        changed[slot].1 = new_value;
        prop_assert!(!validate(&[TOKEN], URL, &changed, &signature));
    }
}
