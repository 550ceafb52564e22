//! G.711 mu-law codec: the wire format of Twilio Media Streams and of
//! Google TTS `MULAW` output (8 kHz, one byte per sample).
//!
//! Decoding goes through a 256-entry table built at compile time, because it
//! runs on every inbound sample of every call. Encoding follows the ITU-T
//! G.711 reference (bias 0x84, clip at 32635) and is computed, because it
//! only runs on the cold path (converting WAV files for the call simulator).
//! Resampling and WAV containers live elsewhere ([`crate::resample`],
//! [`crate::wav`]).

/// The mu-law byte for digital silence (linear 0). Pad or fill outbound
/// audio with this, never with `0x00` (which is the loudest negative value).
pub const SILENCE: u8 = 0xFF;

/// Added to the magnitude before encoding so that every segment starts on a
/// power of two (ITU-T G.711 reference value).
const BIAS: i32 = 0x84;
/// Largest magnitude that still fits the top segment once `BIAS` is added.
const CLIP: i32 = 32635;

/// Linear value of every mu-law byte, indexed by the byte.
static DECODE_TABLE: [i16; 256] = build_decode_table();

const fn build_decode_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = decode_formula(i as u8);
        i += 1;
    }
    table
}

/// The reference expansion, used only to build [`DECODE_TABLE`].
const fn decode_formula(byte: u8) -> i16 {
    // mu-law bytes are stored inverted so that silence is 0xFF (a line
    // idling at all ones).
    let u = !byte;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// Decodes one mu-law byte to a linear 16-bit sample.
#[inline]
pub fn decode(byte: u8) -> i16 {
    DECODE_TABLE[byte as usize]
}

/// Encodes one linear 16-bit sample to mu-law (ITU-T G.711 reference).
#[inline]
pub fn encode(sample: i16) -> u8 {
    let mut magnitude = i32::from(sample);
    let sign: u8 = if magnitude < 0 {
        // i32 holds -(-32768) without overflow; CLIP brings it back in range.
        magnitude = -magnitude;
        0x80
    } else {
        0
    };
    let biased = magnitude.min(CLIP) + BIAS;
    // `biased >> 7` lies in 1..=255; the segment (exponent) is the position
    // of its highest set bit.
    let exponent = (31 - ((biased >> 7) as u32).leading_zeros()) as u8;
    let mantissa = ((biased >> (exponent + 3)) & 0x0F) as u8;
    !(sign | (exponent << 4) | mantissa)
}

/// Appends the linear samples of `mulaw` to `out`.
///
/// `out` is not cleared: callers reuse one buffer per call and clear it
/// themselves, so the hot path never allocates once the buffer has grown.
#[inline]
pub fn decode_into(mulaw: &[u8], out: &mut Vec<i16>) {
    out.extend(mulaw.iter().map(|&b| DECODE_TABLE[b as usize]));
}

/// Appends the mu-law encoding of `pcm` to `out` (which is not cleared).
pub fn encode_into(pcm: &[i16], out: &mut Vec<u8>) {
    out.extend(pcm.iter().map(|&s| encode(s)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_decode_to_reference_values() {
        assert_eq!(decode(0xFF), 0);
        assert_eq!(decode(0x7F), 0);
        assert_eq!(decode(0x00), -32124);
        assert_eq!(decode(0x80), 32124);
        assert_eq!(decode(0xFE), 8);
        assert_eq!(decode(0x7E), -8);
    }

    #[test]
    fn silence_constant_decodes_to_zero() {
        assert_eq!(decode(SILENCE), 0);
        assert_eq!(encode(0), SILENCE);
    }

    #[test]
    fn every_code_survives_a_round_trip_except_the_negative_zero() {
        for code in 0..=255u8 {
            let back = encode(decode(code));
            if code == 0x7F {
                // 0x7F is "-0": it decodes to 0, which encodes as 0xFF.
                assert_eq!(back, 0xFF);
            } else {
                assert_eq!(back, code, "code {code:#04x}");
            }
        }
    }

    #[test]
    fn extreme_samples_clip_to_the_loudest_codes() {
        assert_eq!(encode(i16::MAX), 0x80);
        assert_eq!(encode(i16::MIN), 0x00);
        assert_eq!(encode(-32124), 0x00);
    }

    #[test]
    fn encoding_is_monotonic_in_the_decoded_value() {
        // Quantisation must never reorder values: decode(encode(x)) grows with x.
        let mut previous = i16::MIN;
        for x in (i16::MIN..=i16::MAX).step_by(7) {
            let y = decode(encode(x));
            assert!(y >= previous, "x={x} y={y} previous={previous}");
            previous = y;
        }
    }

    #[test]
    fn quantisation_error_stays_within_half_a_step() {
        for x in (-32000i16..=32000).step_by(13) {
            let y = decode(encode(x));
            let err = (i32::from(x) - i32::from(y)).abs();
            // Step size in the top segment is 1024; error is at most half of it
            // (plus the reference's bias rounding).
            let bound = (i32::from(x).abs() / 16).max(8);
            assert!(err <= bound, "x={x} y={y} err={err}");
        }
    }

    #[test]
    fn buffer_helpers_append_without_clearing() {
        let mut pcm = vec![1i16];
        decode_into(&[0xFF, 0x80], &mut pcm);
        assert_eq!(pcm, [1, 0, 32124]);
        let mut bytes = vec![9u8];
        encode_into(&[0, 32124], &mut bytes);
        assert_eq!(bytes, [9, 0xFF, 0x80]);
    }
}
