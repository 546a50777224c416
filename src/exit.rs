//! Exit statuses: what a command's result means for a script, and which one
//! wins when several files are checked (`verify a b c && publish`).
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (verify: marked, and everything checked is consistent) |
//! | 1 | no marker found (in at least one file) |
//! | 2 | error: bad input, unreadable file, bad arguments |
//! | 3 | a marker was found but its manifest is invalid or contradicts it, or the seal carries a signature its key did not make |
//! | 4 | (verify with `--trust`) marked and consistent, but no key you trust stands behind the marker |
//!
//! With several files the most serious status wins: 2, then 3, then 4,
//! then 1, then 0.

/// A command's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Status {
    /// 0: success.
    #[default]
    Ok,
    /// 1: no marker found.
    NoMarker,
    /// 2: an error.
    Error,
    /// 3: marked, but the manifest or the seal does not check out.
    Invalid,
    /// 4: marked and consistent, but a trust list was given and no key on
    /// it stands behind the marker (someone else's stamp).
    Untrusted,
}

impl Status {
    /// The process exit code.
    pub fn code(self) -> i32 {
        match self {
            Status::Ok => 0,
            Status::NoMarker => 1,
            Status::Error => 2,
            Status::Invalid => 3,
            Status::Untrusted => 4,
        }
    }

    /// The status as the word JSON records give it: `ok`, `no-marker`,
    /// `error`, `invalid` or `untrusted`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::NoMarker => "no-marker",
            Status::Error => "error",
            Status::Invalid => "invalid",
            Status::Untrusted => "untrusted",
        }
    }

    /// How serious it is (higher wins).
    fn rank(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::NoMarker => 1,
            Status::Untrusted => 2,
            Status::Invalid => 3,
            Status::Error => 4,
        }
    }

    /// The more serious of two statuses.
    #[must_use]
    pub fn worst(self, other: Status) -> Status {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Status::*;

    #[test]
    fn errors_outrank_invalid_outrank_unmarked() {
        assert_eq!(Ok.worst(NoMarker), NoMarker);
        assert_eq!(NoMarker.worst(Invalid), Invalid);
        assert_eq!(Invalid.worst(Error), Error);
        assert_eq!(Error.worst(Ok), Error);
        assert_eq!(NoMarker.worst(Untrusted), Untrusted);
        assert_eq!(Untrusted.worst(Invalid), Invalid);
        assert_eq!(Untrusted.code(), 4);
        assert_eq!(
            [Ok, Invalid, NoMarker]
                .into_iter()
                .fold(Ok, super::Status::worst)
                .code(),
            3
        );
    }
}
