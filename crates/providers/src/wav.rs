//! The little WAV framing providers need: wrapping raw mu-law in a header for
//! upload, and pulling the `data` chunk out of Google's answers. Private and
//! minimal on purpose; the full RIFF parser belongs to `crates/voice`.

use bytes::{Bytes, BytesMut};

use crate::error::ProviderError;

/// WAVE_FORMAT_MULAW from the RIFF registry.
const FORMAT_MULAW: u16 = 7;

/// Wraps headerless mu-law 8 kHz mono in a WAV container so upload APIs that
/// sniff file types accept it.
pub(crate) fn wrap_mulaw_8k(samples: &[u8]) -> Bytes {
    let n = u32::try_from(samples.len()).unwrap_or(u32::MAX);
    // Non-PCM formats carry an 18-byte fmt chunk (with cbSize) and a fact
    // chunk with the sample count; strict decoders check both.
    let riff_size = 4 + (8 + 18) + (8 + 4) + 8 + n + (n & 1);
    let mut out = BytesMut::with_capacity(samples.len() + 58);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&riff_size.to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&18u32.to_le_bytes());
    out.extend_from_slice(&FORMAT_MULAW.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // channels
    out.extend_from_slice(&8000u32.to_le_bytes()); // sample rate
    out.extend_from_slice(&8000u32.to_le_bytes()); // byte rate
    out.extend_from_slice(&1u16.to_le_bytes()); // block align
    out.extend_from_slice(&8u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(&0u16.to_le_bytes()); // cbSize
    out.extend_from_slice(b"fact");
    out.extend_from_slice(&4u32.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(samples);
    if n & 1 == 1 {
        out.extend_from_slice(&[0]);
    }
    out.freeze()
}

/// Returns the payload of the first `data` chunk.
///
/// Audio without a RIFF header is returned unchanged: some compatible
/// servers send headerless MULAW, and it is already what Twilio wants. Chunks
/// are walked by their sizes (odd ones padded to even, as RIFF requires) so
/// `LIST`/`fact` chunks before `data` are skipped; a `data` size past the end
/// of the buffer (streamed WAVs write 0xFFFFFFFF) means "the rest".
pub(crate) fn data_chunk(wav: Bytes) -> Result<Bytes, ProviderError> {
    if wav.len() < 12 || &wav[0..4] != b"RIFF" {
        return Ok(wav);
    }
    if &wav[8..12] != b"WAVE" {
        return Err(ProviderError::Malformed("RIFF file is not WAVE".into()));
    }
    let mut pos = 12usize;
    while pos + 8 <= wav.len() {
        let id = &wav[pos..pos + 4];
        let size = u32::from_le_bytes([wav[pos + 4], wav[pos + 5], wav[pos + 6], wav[pos + 7]]);
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        let body = pos + 8;
        if id == b"data" {
            let end = body.saturating_add(size).min(wav.len());
            return Ok(wav.slice(body..end));
        }
        pos = body.saturating_add(size).saturating_add(size & 1);
    }
    Err(ProviderError::Malformed("WAV has no data chunk".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(id: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = id.to_vec();
        v.extend_from_slice(&(body.len() as u32).to_le_bytes());
        v.extend_from_slice(body);
        if body.len() % 2 == 1 {
            v.push(0);
        }
        v
    }

    fn riff(chunks: &[Vec<u8>]) -> Bytes {
        let body: Vec<u8> = chunks.concat();
        let mut v = b"RIFF".to_vec();
        v.extend_from_slice(&((body.len() + 4) as u32).to_le_bytes());
        v.extend_from_slice(b"WAVE");
        v.extend_from_slice(&body);
        Bytes::from(v)
    }

    #[test]
    fn the_plain_44_byte_header_is_stripped() {
        let wav = riff(&[chunk(b"fmt ", &[0; 16]), chunk(b"data", &[1, 2, 3, 4])]);
        assert_eq!(&data_chunk(wav).unwrap()[..], &[1, 2, 3, 4]);
    }

    #[test]
    fn a_list_chunk_before_data_is_skipped() {
        let wav = riff(&[
            chunk(b"fmt ", &[0; 18]),
            chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00Lavf\x00\x00"),
            chunk(b"data", &[9, 8, 7]),
        ]);
        assert_eq!(&data_chunk(wav).unwrap()[..], &[9, 8, 7]);
    }

    #[test]
    fn an_odd_sized_chunk_is_padded_before_the_next_one() {
        let wav = riff(&[
            chunk(b"fmt ", &[0; 16]),
            chunk(b"junk", &[0xAA; 3]),
            chunk(b"data", &[5, 6]),
        ]);
        assert_eq!(&data_chunk(wav).unwrap()[..], &[5, 6]);
    }

    #[test]
    fn a_data_size_past_the_end_means_the_rest_of_the_file() {
        let mut v = riff(&[chunk(b"fmt ", &[0; 16])]).to_vec();
        v.extend_from_slice(b"data");
        v.extend_from_slice(&u32::MAX.to_le_bytes());
        v.extend_from_slice(&[1, 2, 3]);
        assert_eq!(&data_chunk(Bytes::from(v)).unwrap()[..], &[1, 2, 3]);
    }

    #[test]
    fn a_wav_without_data_is_malformed() {
        let wav = riff(&[chunk(b"fmt ", &[0; 16])]);
        assert!(matches!(data_chunk(wav), Err(ProviderError::Malformed(_))));
    }

    #[test]
    fn headerless_audio_passes_through() {
        let raw = Bytes::from_static(&[0xFF; 20]);
        assert_eq!(data_chunk(raw.clone()).unwrap(), raw);
    }

    #[test]
    fn wrapped_mulaw_round_trips_through_the_chunk_walker() {
        for len in [0usize, 1, 160, 161] {
            let samples: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let wav = wrap_mulaw_8k(&samples);
            assert_eq!(&wav[20..22], &7u16.to_le_bytes(), "format tag");
            let riff_size = u32::from_le_bytes([wav[4], wav[5], wav[6], wav[7]]) as usize;
            assert_eq!(riff_size + 8, wav.len());
            assert_eq!(&data_chunk(wav).unwrap()[..], &samples[..]);
        }
    }
}
