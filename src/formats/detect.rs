//! Which format a refused file looks like: [`looks_like`], so that the
//! error can name the likely `--format`.

use super::{cucm, freeswitch, generic, FormatName};

/// Which other format a file's first record looks like, by cheap tests of
/// that record's unquoted fields (never `configured`): a generic or CUCM
/// header by its column names, a 3CX `Call N` row, an Asterisk `Master.csv`
/// or FreeSWITCH `example` row by its width and where its start time and
/// billsec are.
pub fn looks_like(first: &[&[u8]], configured: FormatName) -> Option<(FormatName, &'static str)> {
    let has = |name: &str| first.iter().any(|n| n.trim_ascii().eq_ignore_ascii_case(name.as_bytes()));
    let stamp_at = |i: usize| first.get(i).is_some_and(|f| is_local_stamp(f.trim_ascii()));
    let digits_at =
        |i: usize| first.get(i).is_some_and(|f| !f.is_empty() && f.trim_ascii().iter().all(u8::is_ascii_digit));
    let guess = if generic::REQUIRED.iter().all(|c| has(c)) {
        (FormatName::Generic, "a generic CSV (its header names call_id, start_time, account, caller, callee, billsec)")
    } else if has(cucm::RECORD_TYPE) && has(cucm::ORIGINATION) {
        (FormatName::Cucm, "a CUCM CDR file (its header names cdrRecordType and dateTimeOrigination)")
    } else if first
        .first()
        .and_then(|f| f.strip_prefix(b"Call "))
        .is_some_and(|n| !n.is_empty() && n.iter().all(u8::is_ascii_digit))
    {
        (FormatName::ThreeCx, "a 3CX CDR log (rows start \"Call N\")")
    } else if (16..=21).contains(&first.len()) && stamp_at(9) && digits_at(13) {
        (FormatName::Asterisk, "an asterisk Master.csv")
    } else if first.len() == freeswitch::COLUMNS.len() && stamp_at(4) && digits_at(8) {
        (FormatName::Freeswitch, "a FreeSWITCH mod_cdr_csv file")
    } else {
        return None;
    };
    (guess.0 != configured).then_some(guess)
}

/// `YYYY-MM-DD HH:MM:SS`, the local start time of Asterisk and FreeSWITCH rows.
fn is_local_stamp(f: &[u8]) -> bool {
    f.len() == 19
        && f.iter().enumerate().all(|(i, &b)| match i {
            4 | 7 => b == b'-',
            10 => b == b' ',
            13 | 16 => b == b':',
            _ => b.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::{Format, FormatError, Parser};

    /// The first record's fields, split as the header reader does (quotes removed).
    fn first_record(line: &str) -> Vec<Vec<u8>> {
        let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(line.as_bytes());
        r.byte_records().next().unwrap().unwrap().iter().map(<[u8]>::to_vec).collect()
    }

    fn guess(line: &str, configured: FormatName) -> Option<FormatName> {
        let fields = first_record(line);
        let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
        looks_like(&refs, configured).map(|g| g.0)
    }

    #[test]
    fn first_records_of_other_formats_are_recognised() {
        let asterisk = r#""C0001","0201234510","0201234567","from-internal","""B"" <0201234510>","PJSIP/201-1","PJSIP/t-2","Dial","PJSIP/0201234567@t,60,T","2026-11-24 08:01:05","2026-11-24 08:01:11","2026-11-24 08:02:46",101,95,"ANSWERED","DOCUMENTATION","1764000000.100","","","1764000000.100",100"#;
        assert_eq!(guess(asterisk, FormatName::Generic), Some(FormatName::Asterisk));
        let fs = r#""Anna","0201234501","0201239876","default","2026-11-24 09:00:00","2026-11-24 09:00:06","2026-11-24 09:02:11","131","125","NORMAL_CLEARING","6f1c","8a7d","C0001","PCMA","PCMA""#;
        assert_eq!(guess(fs, FormatName::Generic), Some(FormatName::Freeswitch));
        let threecx = "Call 40117,5d1e_40117,00:00:26,2026/06/17 14:01:02,,,TerminatedBySrc,Ext.10016,+46701234567";
        assert_eq!(guess(threecx, FormatName::Custom), Some(FormatName::ThreeCx));
        let cucm =
            r#""cdrRecordType","globalCallID_callManagerId","globalCallID_callId","dateTimeOrigination","duration""#;
        assert_eq!(guess(cucm, FormatName::Generic), Some(FormatName::Cucm));
        let generic = "call_id,start_time,account,caller,callee,billsec,extra";
        assert_eq!(guess(generic, FormatName::Cucm), Some(FormatName::Generic));
        // Never the configured format itself, and nothing for a near miss.
        assert_eq!(guess(generic, FormatName::Generic), None);
        assert_eq!(guess("call_id,start,account,caller,callee,billsec", FormatName::Cucm), None);
        assert_eq!(guess("Call X,1,2", FormatName::Generic), None);
        let short_asterisk = asterisk.replacen("2026-11-24 08:01:05", "yesterday", 1);
        assert_eq!(guess(&short_asterisk, FormatName::Generic), None);
    }

    #[test]
    fn a_refused_header_names_the_likely_format_once() {
        let fields = first_record("Call 40117,x,00:00:26");
        let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
        let err = Parser::new(&Format::plain(FormatName::Generic).unwrap(), &[refs]).unwrap_err();
        assert!(matches!(&err, FormatError::LooksLike { format: FormatName::ThreeCx, .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.ends_with("try --format 3cx (or format = \"3cx\" in the config)"), "{text}");
        assert_eq!(text.matches("header lacks required column(s)").count(), 1, "{text}");
    }
}
