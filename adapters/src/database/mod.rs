//! database side
