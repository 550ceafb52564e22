//! WAV framing at the provider boundary: wrap raw mu-law for upload, and
//! take the `data` chunk out of what Google returns. The chunk walking
//! itself is `voice::wav`'s, so there is one RIFF parser in the tree.

use bytes::Bytes;

use crate::error::ProviderError;

/// Raw 8 kHz mu-law wrapped in a WAV header: transcription APIs want a file
/// with a known format, not bare samples.
pub(crate) fn wrap_mulaw_8k(samples: &[u8]) -> Bytes {
    Bytes::from(voice::wav::write_mulaw_8k(samples))
}

/// Returns the payload of the first `data` chunk.
///
/// Audio without a RIFF header is returned unchanged: some compatible
/// servers send headerless MULAW, and it is already what Twilio wants.
pub(crate) fn data_chunk(wav: Bytes) -> Result<Bytes, ProviderError> {
    if wav.len() < 12 || &wav[0..4] != b"RIFF" {
        return Ok(wav);
    }
    let info =
        voice::wav::parse(&wav).map_err(|e| ProviderError::Malformed(format!("WAV: {e}")))?;
    // The data is a slice of `wav`: hand out a view of it, not a copy.
    let start = info.data.as_ptr() as usize - wav.as_ptr() as usize;
    let end = start + info.data.len();
    Ok(wav.slice(start..end))
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

    /// A mu-law, mono, 8 kHz `fmt ` body of `len` bytes (16 or 18).
    fn mulaw_fmt(len: usize) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&7u16.to_le_bytes()); // mu-law
        v.extend_from_slice(&1u16.to_le_bytes()); // mono
        v.extend_from_slice(&8000u32.to_le_bytes());
        v.extend_from_slice(&8000u32.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&8u16.to_le_bytes());
        v.resize(len, 0);
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
        let wav = riff(&[
            chunk(b"fmt ", &mulaw_fmt(16)),
            chunk(b"data", &[1, 2, 3, 4]),
        ]);
        assert_eq!(&data_chunk(wav).unwrap()[..], &[1, 2, 3, 4]);
    }

    #[test]
    fn a_list_chunk_before_data_is_skipped() {
        let wav = riff(&[
            chunk(b"fmt ", &mulaw_fmt(18)),
            chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00Lavf\x00\x00"),
            chunk(b"data", &[9, 8, 7]),
        ]);
        assert_eq!(&data_chunk(wav).unwrap()[..], &[9, 8, 7]);
    }

    #[test]
    fn an_odd_sized_chunk_is_padded_before_the_next_one() {
        let wav = riff(&[
            chunk(b"fmt ", &mulaw_fmt(16)),
            chunk(b"junk", &[0xAA; 3]),
            chunk(b"data", &[5, 6]),
        ]);
        assert_eq!(&data_chunk(wav).unwrap()[..], &[5, 6]);
    }

    #[test]
    fn a_data_size_past_the_end_means_the_rest_of_the_file() {
        let mut v = riff(&[chunk(b"fmt ", &mulaw_fmt(16))]).to_vec();
        v.extend_from_slice(b"data");
        v.extend_from_slice(&u32::MAX.to_le_bytes());
        v.extend_from_slice(&[1, 2, 3]);
        assert_eq!(&data_chunk(Bytes::from(v)).unwrap()[..], &[1, 2, 3]);
    }

    #[test]
    fn a_wav_without_data_is_malformed() {
        let wav = riff(&[chunk(b"fmt ", &mulaw_fmt(16))]);
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
