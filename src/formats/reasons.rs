//! Why a row is not a call: [`Reject`] (it did not parse; the rejected
//! output) and [`Skip`] (the format does not bill it; only counted).

/// Why a row is not a call to rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotCall {
    /// It did not parse: the rejected file.
    Reject(Reject),
    /// It is a record the format does not bill: counted, not written.
    Skip(Skip),
}

impl From<Reject> for NotCall {
    fn from(r: Reject) -> Self {
        NotCall::Reject(r)
    }
}

/// Why a well-formed row is not billed. Skipped rows are counted (summary,
/// ledger, `records_total{result="skipped"}`) and stay in the archived input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Skip {
    /// The other leg of a call whose billable leg is rated (FreeSWITCH `legs = "ab"`).
    BLeg,
    /// A record of a type that is not a call (CUCM CMR or start records).
    RecordType,
    /// A configured skip rule matched (custom layouts).
    SkipRule,
}

impl Skip {
    /// Every reason.
    pub const ALL: [Skip; 3] = [Skip::BLeg, Skip::RecordType, Skip::SkipRule];

    /// Reason as counted.
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::BLeg => "b_leg",
            Skip::RecordType => "record_type",
            Skip::SkipRule => "skip_rule",
        }
    }
}

/// Why a row did not parse. Each becomes the `reason` of a rejected row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reject {
    /// Not the number of fields the format has.
    FieldCount,
    /// Longer than the configured maximum line length.
    LineTooLong,
    /// A field the rating uses is not valid UTF-8.
    InvalidUtf8,
    /// Start time missing, malformed or impossible.
    BadStartTime,
    /// Answer time present but malformed or impossible (an empty one is
    /// "not recorded", never a reject).
    BadAnswerTime,
    /// `billsec` is not a non-negative whole number of seconds.
    BadBillsec,
    /// No called number.
    EmptyCallee,
    /// Called number has characters that are not digits or separators.
    BadCallee,
    /// Called number has more than 15 digits.
    CalleeTooLong,
    /// Not a record of the format at all (a 3CX row not starting `Call N`).
    BadRecord,
    /// More fields than `[limits] max_fields`.
    TooManyFields,
    /// Answered longer than `[limits] max_billsec`.
    BillsecTooLong,
}

impl Reject {
    /// Every reason.
    pub const ALL: [Reject; 12] = [
        Reject::FieldCount,
        Reject::LineTooLong,
        Reject::InvalidUtf8,
        Reject::BadStartTime,
        Reject::BadAnswerTime,
        Reject::BadBillsec,
        Reject::EmptyCallee,
        Reject::BadCallee,
        Reject::CalleeTooLong,
        Reject::BadRecord,
        Reject::TooManyFields,
        Reject::BillsecTooLong,
    ];

    /// Reason as written in the rejected file.
    pub fn as_str(self) -> &'static str {
        match self {
            Reject::FieldCount => "field_count",
            Reject::LineTooLong => "line_too_long",
            Reject::InvalidUtf8 => "invalid_utf8",
            Reject::BadStartTime => "bad_start_time",
            Reject::BadAnswerTime => "bad_answer_time",
            Reject::BadBillsec => "bad_billsec",
            Reject::EmptyCallee => "empty_callee",
            Reject::BadCallee => "bad_callee",
            Reject::CalleeTooLong => "callee_too_long",
            Reject::BadRecord => "bad_record",
            Reject::TooManyFields => "too_many_fields",
            Reject::BillsecTooLong => "billsec_too_long",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counters are indexed by `reason as usize` and printed in `ALL` order.
    #[test]
    fn all_lists_every_reason_once_in_declaration_order() {
        for (i, r) in Reject::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{}", r.as_str());
        }
        for (i, s) in Skip::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i, "{}", s.as_str());
        }
        let mut names: Vec<&str> = Reject::ALL.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Reject::ALL.len());
        assert_eq!(Reject::BadAnswerTime.as_str(), "bad_answer_time");
    }
}
