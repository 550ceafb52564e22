//! The fake providers speak the documented formats.
