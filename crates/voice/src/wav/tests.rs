use super::*;

/// Builds a WAV by hand from (id, body, declared size) chunks so tests can
/// lie about sizes the way real writers do.
fn riff(chunks: &[(&[u8; 4], Vec<u8>, Option<u32>)]) -> Vec<u8> {
    let mut body = b"WAVE".to_vec();
    for (id, data, declared) in chunks {
        body.extend_from_slice(*id);
        let size = declared.unwrap_or(data.len() as u32);
        body.extend_from_slice(&size.to_le_bytes());
        body.extend_from_slice(data);
        if declared.is_none() && data.len() % 2 == 1 {
            body.push(0);
        }
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

fn fmt(code: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
    let align = channels * bits / 8;
    let mut f = Vec::new();
    f.extend_from_slice(&code.to_le_bytes());
    f.extend_from_slice(&channels.to_le_bytes());
    f.extend_from_slice(&rate.to_le_bytes());
    f.extend_from_slice(&rate.wrapping_mul(u32::from(align)).to_le_bytes());
    f.extend_from_slice(&align.to_le_bytes());
    f.extend_from_slice(&bits.to_le_bytes());
    f
}

#[test]
fn canonical_pcm16_file_round_trips_through_the_writer() {
    let samples = [0i16, 1000, -1000, i16::MAX, i16::MIN];
    let bytes = write_pcm16(&samples, 16_000);
    assert_eq!(bytes.len(), 44 + 10);
    let info = parse(&bytes).unwrap();
    assert_eq!(info.format, WavFormat::Pcm);
    assert_eq!(
        (info.channels, info.sample_rate, info.bits_per_sample),
        (1, 16_000, 16)
    );
    assert_eq!(decode_mono(&info).unwrap(), samples);
}

#[test]
fn mulaw_writer_output_parses_back_to_the_same_bytes() {
    let payload = [0xFFu8, 0x80, 0x00, 0x7F, 0x12];
    let bytes = write_mulaw_8k(&payload);
    let info = parse(&bytes).unwrap();
    assert_eq!(info.format, WavFormat::MuLaw);
    assert_eq!(info.format.code(), 7);
    assert_eq!(
        (info.channels, info.sample_rate, info.bits_per_sample),
        (1, 8000, 8)
    );
    assert_eq!(info.data, payload);
    // Odd data is padded so the RIFF stays well-formed.
    assert_eq!(bytes.len() % 2, 0);
}

#[test]
fn list_and_fact_chunks_before_data_are_skipped() {
    let bytes = riff(&[
        (b"fmt ", fmt(7, 1, 8000, 8), None),
        (b"LIST", b"INFOISFT\x05\x00\x00\x00Lavf\x00".to_vec(), None),
        (b"fact", 4u32.to_le_bytes().to_vec(), None),
        (b"data", vec![1, 2, 3, 4], None),
    ]);
    let info = parse(&bytes).unwrap();
    assert_eq!(info.data, [1, 2, 3, 4]);
}

#[test]
fn odd_sized_chunks_are_followed_by_a_pad_byte() {
    let bytes = riff(&[
        (b"fmt ", fmt(1, 1, 8000, 16), None),
        (b"junk", vec![9, 9, 9], None),
        (b"data", vec![1, 0, 2, 0], None),
    ]);
    assert_eq!(parse(&bytes).unwrap().data, [1, 0, 2, 0]);
}

#[test]
fn streaming_data_size_of_all_ones_means_until_the_end() {
    let bytes = riff(&[
        (b"fmt ", fmt(7, 1, 8000, 8), None),
        (b"data", vec![5; 7], Some(u32::MAX)),
    ]);
    assert_eq!(parse(&bytes).unwrap().data, [5; 7]);
}

#[test]
fn data_size_past_the_buffer_is_clamped_to_the_end() {
    let bytes = riff(&[
        (b"fmt ", fmt(1, 2, 8000, 16), None),
        (b"data", vec![1; 10], Some(4096)),
    ]);
    // Two channels of 16 bits: 4-byte frames, so the trailing 2 bytes are cut.
    assert_eq!(parse(&bytes).unwrap().data.len(), 8);
}

#[test]
fn wrong_riff_size_is_ignored() {
    let mut bytes = write_mulaw_8k(&[1, 2]);
    bytes[4..8].copy_from_slice(&0u32.to_le_bytes());
    assert_eq!(parse(&bytes).unwrap().data, [1, 2]);
}

#[test]
fn extensible_format_resolves_to_its_sub_format() {
    let mut f = fmt(0xFFFE, 1, 8000, 16);
    f.extend_from_slice(&22u16.to_le_bytes()); // cbSize
    f.extend_from_slice(&16u16.to_le_bytes()); // valid bits
    f.extend_from_slice(&4u32.to_le_bytes()); // channel mask
    f.extend_from_slice(&1u16.to_le_bytes()); // GUID starts with the format code
    f.extend_from_slice(&[0; 14]);
    let bytes = riff(&[(b"fmt ", f, None), (b"data", vec![0; 4], None)]);
    assert_eq!(parse(&bytes).unwrap().format, WavFormat::Pcm);
}

#[test]
fn non_riff_input_is_rejected_with_not_wave() {
    assert_eq!(
        parse(b"ID3\x04 this is an mp3 file").unwrap_err(),
        WavError::NotWave
    );
    assert_eq!(
        parse(b"RIFF\x10\x00\x00\x00AVI LIST").unwrap_err(),
        WavError::NotWave
    );
    assert_eq!(parse(b"").unwrap_err(), WavError::Truncated("RIFF header"));
    assert_eq!(
        parse(b"RIF").unwrap_err(),
        WavError::Truncated("RIFF header")
    );
    assert_eq!(parse(b"hello").unwrap_err(), WavError::NotWave);
}

#[test]
fn truncated_files_give_clear_errors() {
    let full = write_pcm16(&[1, 2, 3], 8000);
    assert_eq!(parse(&full[..12]).unwrap_err(), WavError::MissingFormat);
    assert_eq!(
        parse(&full[..30]).unwrap_err(),
        WavError::Truncated("fmt chunk")
    );
    // Header complete, data chunk header cut: no data at all.
    assert_eq!(parse(&full[..38]).unwrap_err(), WavError::MissingData);
    let no_fmt = riff(&[(b"data", vec![1, 2], None)]);
    assert_eq!(parse(&no_fmt).unwrap_err(), WavError::MissingFormat);
    let cut_list = riff(&[
        (b"fmt ", fmt(1, 1, 8000, 16), None),
        (b"LIST", vec![0; 4], Some(100)),
    ]);
    assert_eq!(
        parse(&cut_list).unwrap_err(),
        WavError::Truncated("chunk before data")
    );
}

#[test]
fn impossible_format_fields_are_rejected() {
    let zero_channels = riff(&[
        (b"fmt ", fmt(1, 0, 8000, 16), None),
        (b"data", vec![], None),
    ]);
    assert_eq!(
        parse(&zero_channels).unwrap_err(),
        WavError::InvalidFormat("zero channels")
    );
    let zero_rate = riff(&[(b"fmt ", fmt(1, 1, 0, 16), None), (b"data", vec![], None)]);
    assert_eq!(
        parse(&zero_rate).unwrap_err(),
        WavError::InvalidFormat("zero sample rate")
    );
}

#[test]
fn stereo_pcm_is_downmixed_by_averaging() {
    let mut data = Vec::new();
    for (l, r) in [(1000i16, 3000i16), (-2000, 0)] {
        data.extend_from_slice(&l.to_le_bytes());
        data.extend_from_slice(&r.to_le_bytes());
    }
    let bytes = riff(&[(b"fmt ", fmt(1, 2, 8000, 16), None), (b"data", data, None)]);
    let info = parse(&bytes).unwrap();
    assert_eq!(decode_mono(&info).unwrap(), [2000, -1000]);
}

#[test]
fn eight_bit_pcm_and_alaw_decode_to_the_right_sign() {
    let pcm8 = riff(&[
        (b"fmt ", fmt(1, 1, 8000, 8), None),
        (b"data", vec![128, 255, 0], None),
    ]);
    assert_eq!(
        decode_mono(&parse(&pcm8).unwrap()).unwrap(),
        [0, 127 << 8, -128 << 8]
    );
    // A-law 0xD5 is the smallest positive step, 0x55 the smallest negative.
    let alaw = riff(&[
        (b"fmt ", fmt(6, 1, 8000, 8), None),
        (b"data", vec![0xD5, 0x55, 0xAA], None),
    ]);
    assert_eq!(decode_mono(&parse(&alaw).unwrap()).unwrap(), [8, -8, 32256]);
}

#[test]
fn float_wavs_are_reported_as_unsupported() {
    let bytes = riff(&[
        (b"fmt ", fmt(3, 1, 8000, 32), None),
        (b"data", vec![0; 8], None),
    ]);
    let err = to_mulaw_8k_mono(&bytes).unwrap_err();
    assert_eq!(
        err,
        WavError::Unsupported {
            format_code: 3,
            bits_per_sample: 32
        }
    );
    assert!(err.to_string().contains("format code 3"));
}

#[test]
fn mulaw_8k_mono_input_passes_through_untouched() {
    let payload: Vec<u8> = (0..=255).collect();
    assert_eq!(
        to_mulaw_8k_mono(&write_mulaw_8k(&payload)).unwrap(),
        payload
    );
}

#[test]
fn pcm_at_espeak_rate_converts_to_8k_mulaw_of_the_right_length() {
    let samples: Vec<i16> = (0..22050)
        .map(|i| {
            (8000.0 * (2.0 * std::f64::consts::PI * 300.0 * f64::from(i) / 22050.0).sin()) as i16
        })
        .collect();
    let out = to_mulaw_8k_mono(&write_pcm16(&samples, 22050)).unwrap();
    assert!((out.len() as i64 - 8000).abs() <= 1);
    let peak = out[100..7900]
        .iter()
        .map(|&b| mulaw::decode(b).unsigned_abs())
        .max()
        .unwrap();
    assert!((7000..=9000).contains(&peak), "peak {peak}");
}

#[test]
fn absurd_sample_rates_are_refused_before_resampling() {
    for rate in [1, 999, 7_999, 48_001, 384_001, u32::MAX] {
        let bytes = riff(&[
            (b"fmt ", fmt(1, 1, rate, 16), None),
            (b"data", vec![0; 64], None),
        ]);
        assert_eq!(
            to_mulaw_8k_mono(&bytes).unwrap_err(),
            WavError::InvalidFormat("sample rate outside 8 kHz–48 kHz"),
            "rate {rate}"
        );
    }
}

#[test]
fn a_forged_low_rate_is_an_error_not_thousands_of_times_the_file_in_memory() {
    // 1 MiB of mu-law claiming 1 Hz would resample to 8 GiB of samples.
    let info = WavInfo {
        format: WavFormat::MuLaw,
        channels: 1,
        sample_rate: 1,
        bits_per_sample: 8,
        data: &[0xFF; 1 << 20],
    };
    assert_eq!(
        decode_mono_8k(&info).unwrap_err(),
        WavError::InvalidFormat("sample rate outside 8 kHz–48 kHz")
    );
}

#[test]
fn every_supported_rate_decodes_to_8k_and_never_to_more_samples_than_the_file_holds() {
    for rate in [8_000, 11_025, 16_000, 22_050, 44_100, 48_000] {
        let samples = vec![1000i16; rate as usize / 10];
        let wav = write_pcm16(&samples, rate);
        let info = parse(&wav).unwrap();
        let pcm = decode_mono_8k(&info).unwrap();
        assert!(pcm.len() <= samples.len(), "rate {rate}: {}", pcm.len());
        assert!(
            (pcm.len() as i64 - 800).abs() <= 1,
            "rate {rate}: {}",
            pcm.len()
        );
    }
}
