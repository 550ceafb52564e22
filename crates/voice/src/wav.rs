//! RIFF/WAVE reading and writing: enough to unwrap Google TTS `MULAW` output
//! (which starts with a WAV header), to wrap caller audio for STT uploads,
//! and to turn any PCM16 or mu-law WAV into Twilio's 8 kHz mono mu-law for
//! the call simulator.
//!
//! The parser walks the chunk list instead of assuming the 44-byte canonical
//! header: real files carry `LIST`/`fact` chunks before `data`, odd-sized
//! chunks are padded to even, and streaming writers that cannot seek back
//! leave the `data` size at `0xFFFFFFFF` (or some other value past the end
//! of the buffer), meaning "until the end". Resampling itself lives in
//! [`crate::resample`].

use crate::{mulaw, resample};

/// Why a byte buffer could not be read as a usable WAV file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WavError {
    /// The buffer does not start with `RIFF....WAVE`.
    #[error("not a RIFF/WAVE file")]
    NotWave,
    /// The buffer ends in the middle of something the parser needs.
    #[error("truncated WAV: {0}")]
    Truncated(&'static str),
    /// No `fmt ` chunk before the end of the file (or before open-ended data).
    #[error("WAV has no fmt chunk")]
    MissingFormat,
    /// No `data` chunk.
    #[error("WAV has no data chunk")]
    MissingData,
    /// The `fmt ` chunk describes something impossible (0 channels, 0 Hz…).
    #[error("invalid WAV format: {0}")]
    InvalidFormat(&'static str),
    /// A well-formed file in an encoding this crate does not convert.
    #[error("unsupported WAV encoding: format code {format_code}, {bits_per_sample} bits")]
    Unsupported {
        /// The format code from the `fmt ` chunk (after resolving EXTENSIBLE).
        format_code: u16,
        /// Bits per sample from the `fmt ` chunk.
        bits_per_sample: u16,
    },
}

/// The sample encoding named by a WAV `fmt ` chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WavFormat {
    /// Format code 1: linear PCM (8-bit unsigned or 16-bit signed here).
    Pcm,
    /// Format code 6: G.711 A-law.
    ALaw,
    /// Format code 7: G.711 mu-law.
    MuLaw,
    /// Any other code (IEEE float is 3, for example).
    Other(u16),
}

impl WavFormat {
    /// Maps a `fmt ` format code to a [`WavFormat`].
    pub fn from_code(code: u16) -> Self {
        match code {
            1 => Self::Pcm,
            6 => Self::ALaw,
            7 => Self::MuLaw,
            other => Self::Other(other),
        }
    }

    /// The numeric format code as written in a `fmt ` chunk.
    pub fn code(self) -> u16 {
        match self {
            Self::Pcm => 1,
            Self::ALaw => 6,
            Self::MuLaw => 7,
            Self::Other(code) => code,
        }
    }
}

/// What [`parse`] found: the format fields and a borrowed `data` payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavInfo<'a> {
    /// Sample encoding (`WAVE_FORMAT_EXTENSIBLE` is resolved to its sub-format).
    pub format: WavFormat,
    /// Interleaved channel count (at least 1).
    pub channels: u16,
    /// Frames per second (at least 1).
    pub sample_rate: u32,
    /// Bits per sample as declared.
    pub bits_per_sample: u16,
    /// The `data` payload, cut to whole sample frames.
    pub data: &'a [u8],
}

/// Format code that defers to a GUID sub-format inside the `fmt ` chunk.
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

struct Format {
    format: WavFormat,
    channels: u16,
    sample_rate: u32,
    bits_per_sample: u16,
}

fn parse_fmt(body: &[u8]) -> Result<Format, WavError> {
    let field = |at| u16_at(body, at).ok_or(WavError::Truncated("fmt chunk"));
    let mut code = field(0)?;
    let channels = field(2)?;
    let sample_rate = u32_at(body, 4).ok_or(WavError::Truncated("fmt chunk"))?;
    let bits_per_sample = field(14)?;
    if code == FORMAT_EXTENSIBLE {
        // cbSize(2) validBits(2) channelMask(4), then the GUID whose first two
        // bytes are the real format code.
        code = u16_at(body, 24).ok_or(WavError::Truncated("extensible fmt chunk"))?;
    }
    if channels == 0 {
        return Err(WavError::InvalidFormat("zero channels"));
    }
    if sample_rate == 0 {
        return Err(WavError::InvalidFormat("zero sample rate"));
    }
    Ok(Format {
        format: WavFormat::from_code(code),
        channels,
        sample_rate,
        bits_per_sample,
    })
}

/// Parses a RIFF/WAVE buffer by walking its chunks.
///
/// The RIFF size field is ignored (streaming writers leave it wrong); the
/// buffer's length is the truth. A `data` chunk whose size is `0xFFFFFFFF`
/// or runs past the buffer extends to the end of the buffer. The returned
/// `data` is cut to a whole number of sample frames.
pub fn parse(bytes: &[u8]) -> Result<WavInfo<'_>, WavError> {
    if bytes.len() < 12 {
        return Err(
            if bytes.starts_with(b"RIFF") || b"RIFF".starts_with(bytes) {
                WavError::Truncated("RIFF header")
            } else {
                WavError::NotWave
            },
        );
    }
    if &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(WavError::NotWave);
    }

    let mut format = None;
    let mut data: Option<&[u8]> = None;
    let mut at = 12usize;
    while at < bytes.len() {
        let (Some(id), Some(size)) = (bytes.get(at..at + 4), u32_at(bytes, at + 4)) else {
            // A few stray bytes after the last chunk are common (padding
            // written by sloppy tools); they only matter if we still lack
            // something.
            break;
        };
        let body_start = at + 8;
        let declared_end = body_start.saturating_add(size as usize);
        if id == b"data" {
            if size == u32::MAX || declared_end > bytes.len() {
                data = Some(&bytes[body_start..]);
                break;
            }
            data = Some(&bytes[body_start..declared_end]);
        } else if id == b"fmt " {
            let body = bytes
                .get(body_start..declared_end)
                .ok_or(WavError::Truncated("fmt chunk"))?;
            format = Some(parse_fmt(body)?);
        } else if declared_end > bytes.len() {
            if format.is_some() && data.is_some() {
                break;
            }
            return Err(WavError::Truncated("chunk before data"));
        }
        // Chunks are padded to an even length; the pad byte is not counted.
        at = declared_end.saturating_add(size as usize & 1);
    }

    let format = format.ok_or(WavError::MissingFormat)?;
    let data = data.ok_or(WavError::MissingData)?;
    let frame_bytes =
        usize::from(format.channels) * usize::from(format.bits_per_sample).div_ceil(8);
    let whole = if frame_bytes == 0 {
        data.len()
    } else {
        data.len() - data.len() % frame_bytes
    };
    Ok(WavInfo {
        format: format.format,
        channels: format.channels,
        sample_rate: format.sample_rate,
        bits_per_sample: format.bits_per_sample,
        data: &data[..whole],
    })
}

fn u32_len(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Builds a WAV file: `fmt ` (with `cbSize` for non-PCM), an optional
/// `fact` chunk, then `data` with its pad byte.
fn write_wav(format: WavFormat, sample_rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
    let pcm = format == WavFormat::Pcm;
    let fmt_len: u32 = if pcm { 16 } else { 18 };
    let fact_len: u32 = if pcm { 0 } else { 12 };
    let pad = data.len() & 1;
    let riff_len = 4 + (8 + fmt_len) + fact_len + 8 + u32_len(data.len() + pad);
    let block_align = bits / 8;
    let mut out = Vec::with_capacity(data.len() + 60);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&riff_len.to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&fmt_len.to_le_bytes());
    out.extend_from_slice(&format.code().to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(
        &sample_rate
            .saturating_mul(u32::from(block_align))
            .to_le_bytes(),
    );
    out.extend_from_slice(&block_align.to_le_bytes());
    out.extend_from_slice(&bits.to_le_bytes());
    if !pcm {
        // Non-PCM formats must carry cbSize and a fact chunk (sample count).
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(b"fact");
        out.extend_from_slice(&4u32.to_le_bytes());
        out.extend_from_slice(&u32_len(data.len() / usize::from(block_align.max(1))).to_le_bytes());
    }
    out.extend_from_slice(b"data");
    out.extend_from_slice(&u32_len(data.len()).to_le_bytes());
    out.extend_from_slice(data);
    if pad == 1 {
        out.push(0);
    }
    out
}

/// Wraps raw 8 kHz mono mu-law bytes (Twilio's format) in a WAV container,
/// e.g. to upload a caller's utterance to a transcription API.
pub fn write_mulaw_8k(mulaw: &[u8]) -> Vec<u8> {
    write_wav(WavFormat::MuLaw, crate::TWILIO_SAMPLE_RATE, 8, mulaw)
}

/// Wraps mono 16-bit PCM samples in a canonical 44-byte-header WAV.
pub fn write_pcm16(samples: &[i16], sample_rate: u32) -> Vec<u8> {
    let mut data = Vec::with_capacity(samples.len() * 2);
    for s in samples {
        data.extend_from_slice(&s.to_le_bytes());
    }
    write_wav(WavFormat::Pcm, sample_rate, 16, &data)
}

/// G.711 A-law expansion (ITU-T reference); only the simulator path needs it.
fn alaw_decode(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let exponent = (a >> 4) & 0x07;
    let mantissa = i16::from(a & 0x0F);
    let magnitude = match exponent {
        0 => (mantissa << 4) + 8,
        e => ((mantissa << 4) + 0x108) << (e - 1),
    };
    if a & 0x80 != 0 { magnitude } else { -magnitude }
}

/// Decodes the `data` of a WAV into mono 16-bit samples by averaging channels.
///
/// Supports PCM 8-bit (unsigned) and 16-bit, mu-law and A-law.
pub fn decode_mono(info: &WavInfo<'_>) -> Result<Vec<i16>, WavError> {
    let unsupported = WavError::Unsupported {
        format_code: info.format.code(),
        bits_per_sample: info.bits_per_sample,
    };
    let sample: fn(&[u8]) -> i32 = match (info.format, info.bits_per_sample) {
        (WavFormat::Pcm, 16) => |b| i32::from(i16::from_le_bytes([b[0], b[1]])),
        (WavFormat::Pcm, 8) => |b| (i32::from(b[0]) - 128) << 8,
        (WavFormat::MuLaw, 8) => |b| i32::from(mulaw::decode(b[0])),
        (WavFormat::ALaw, 8) => |b| i32::from(alaw_decode(b[0])),
        _ => return Err(unsupported),
    };
    let width = usize::from(info.bits_per_sample / 8);
    let channels = usize::from(info.channels);
    let frame = width * channels;
    let mut out = Vec::with_capacity(info.data.len() / frame.max(1));
    for chunk in info.data.chunks_exact(frame) {
        let sum: i32 = chunk.chunks_exact(width).map(sample).sum();
        // The mean of i16 values is an i16: the cast cannot truncate.
        out.push((sum / channels as i32) as i16);
    }
    Ok(out)
}

/// Sample rates this crate converts: telephone (8 kHz, Twilio's
/// recordings) to studio (48 kHz). From 8 kHz up, converting to 8 kHz never
/// yields more samples than the file holds, so a forged rate in a header
/// cannot turn a small file into a huge allocation (a 1 Hz header would
/// multiply it by 8000).
pub const SUPPORTED_RATES: std::ops::RangeInclusive<u32> = 8_000..=48_000;

/// Decodes a WAV to 8 kHz mono 16-bit samples, refusing a sample rate
/// outside [`SUPPORTED_RATES`] before anything is allocated for it.
pub fn decode_mono_8k(info: &WavInfo<'_>) -> Result<Vec<i16>, WavError> {
    if !SUPPORTED_RATES.contains(&info.sample_rate) {
        return Err(WavError::InvalidFormat("sample rate outside 8 kHz–48 kHz"));
    }
    let mono = decode_mono(info)?;
    if info.sample_rate == crate::TWILIO_SAMPLE_RATE {
        return Ok(mono);
    }
    Ok(resample::resample(
        &mono,
        info.sample_rate,
        crate::TWILIO_SAMPLE_RATE,
    ))
}

/// Converts any PCM16 / PCM8 / mu-law / A-law WAV (any channel count, a
/// rate in [`SUPPORTED_RATES`]) to raw 8 kHz mono mu-law, ready to stream
/// as Twilio media.
pub fn to_mulaw_8k_mono(wav: &[u8]) -> Result<Vec<u8>, WavError> {
    let info = parse(wav)?;
    if info.format == WavFormat::MuLaw
        && info.channels == 1
        && info.sample_rate == crate::TWILIO_SAMPLE_RATE
    {
        return Ok(info.data.to_vec());
    }
    let pcm = decode_mono_8k(&info)?;
    let mut out = Vec::with_capacity(pcm.len());
    mulaw::encode_into(&pcm, &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests;
