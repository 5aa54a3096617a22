//! Policy routing rules: `ip -4|-6 rule show`, `ip -4|-6 rule add|del ...` for the
//! selectors wg-quick uses: `not fwmark M table T` and `table main suppress_prefixlength 0`
//! (plus an optional priority).
//!
//! - List: an `RTM_GETRULE` dump of one family. `FRA_TABLE` when present, else the header
//!   table; `FRA_PRIORITY` is left out by the kernel for priority 0 (the `local` rule), so
//!   its absence reads as 0; `FRA_FWMARK`/`FRA_FWMASK` only exist when a mark is set;
//!   `FRA_SUPPRESS_PREFIXLEN` only when it is not -1 (unset).
//! - Add: `RTM_NEWRULE`, `NLM_F_CREATE | NLM_F_EXCL`, action
//!   `FR_ACT_TO_TBL`, `FIB_RULE_INVERT` for `not`, and the table as `ip rule` sends it: in
//!   the header when below 256, else in `FRA_TABLE` with the header at `RT_TABLE_UNSPEC`.
//!   Without a priority the kernel picks one below the first existing rule other than 0, so
//!   adding the same rule twice makes two copies, exactly as `ip rule add` does (wg-quick
//!   deletes until ENOENT); with a priority, an identical rule is EEXIST.
//! - Delete: `RTM_DELRULE` with the same selectors; as with `ip rule del`, the kernel
//!   removes the first rule that matches every selector given (a priority is only matched
//!   when given). No match is ENOENT.

use super::attr;
use super::prefix::Family;
use super::socket::{Connection, Transport};
use crate::error::{Error, Result};
use netlink_packet_core::{NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL};
use std::fmt;

const RTM_NEWRULE: u16 = 32;
const RTM_DELRULE: u16 = 33;
const RTM_GETRULE: u16 = 34;
const FIB_RULE_HDR_LEN: usize = 12;

const FRA_PRIORITY: u16 = 6;
const FRA_FWMARK: u16 = 10;
const FRA_SUPPRESS_PREFIXLEN: u16 = 14;
const FRA_TABLE: u16 = 15;
const FRA_FWMASK: u16 = 16;

/// `FR_ACT_TO_TBL`: look the packet up in a table.
pub const FR_ACT_TO_TBL: u8 = 1;
const FIB_RULE_INVERT: u32 = 0x2;
const RT_TABLE_UNSPEC: u8 = 0;
const DUMP_ATTEMPTS: usize = 5;

/// One rule of a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub family: Family,
    pub priority: Option<u32>,
    pub table: u32,
    pub fwmark: Option<u32>,
    pub fwmask: Option<u32>,
    /// `FIB_RULE_INVERT` (`not`).
    pub invert: bool,
    /// `FRA_SUPPRESS_PREFIXLEN`; `None` when unset (-1).
    pub suppress_prefix_len: Option<u32>,
    /// `FR_ACT_*` (1 to table, 2 goto, 3 nop, 6 blackhole, 7 unreachable, 8 prohibit).
    pub action: u8,
}

/// A rule to add or delete: `[not] [fwmark M] table T [suppress_prefixlength N] [priority P]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub family: Family,
    pub table: u32,
    pub fwmark: Option<u32>,
    pub invert: bool,
    pub suppress_prefix_len: Option<u32>,
    pub priority: Option<u32>,
}

impl RuleSpec {
    /// wg-quick's `not fwmark T table T`.
    pub fn not_fwmark(family: Family, table: u32, fwmark: u32) -> RuleSpec {
        RuleSpec {
            family,
            table,
            fwmark: Some(fwmark),
            invert: true,
            suppress_prefix_len: None,
            priority: None,
        }
    }

    /// wg-quick's `table main suppress_prefixlength 0`.
    pub fn suppress_main(family: Family) -> RuleSpec {
        RuleSpec {
            family,
            table: 254,
            fwmark: None,
            invert: false,
            suppress_prefix_len: Some(0),
            priority: None,
        }
    }

    fn validate(&self, context: &str) -> Result<()> {
        if self.table == 0 {
            return Err(Error::invalid_argument(format!(
                "{context}: table 0 is not a routing table"
            )));
        }
        if let Some(len) = self.suppress_prefix_len {
            if len > self.family.max_prefix_len() as u32 {
                return Err(Error::invalid_argument(format!(
                    "{context}: suppress_prefixlength {len} is longer than an {} address",
                    self.family
                )));
            }
        }
        Ok(())
    }
}

impl fmt::Display for RuleSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "-{}", self.family.version())?;
        if self.invert {
            f.write_str(" not")?;
        }
        if let Some(mark) = self.fwmark {
            write!(f, " fwmark {mark:#x}")?;
        }
        write!(f, " table {}", self.table)?;
        if let Some(len) = self.suppress_prefix_len {
            write!(f, " suppress_prefixlength {len}")?;
        }
        if let Some(priority) = self.priority {
            write!(f, " priority {priority}")?;
        }
        Ok(())
    }
}

/// The rules of `family`, in priority order.
pub fn list<T: Transport>(conn: &mut Connection<T>, family: Family) -> Result<Vec<Rule>> {
    let context = format!("Unable to list {family} rules");
    let payload = fib_rule_hdr(family.af(), RT_TABLE_UNSPEC, 0, 0);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let response = conn.request(RTM_GETRULE, NLM_F_DUMP, &payload, &context)?;
        if response.dump_interrupted && attempt < DUMP_ATTEMPTS {
            continue;
        }
        let mut rules = Vec::new();
        for reply in response.replies.iter().filter(|r| r.message_type == RTM_NEWRULE) {
            if let Some(rule) = parse_rule(&reply.payload)? {
                if rule.family == family {
                    rules.push(rule);
                }
            }
        }
        return Ok(rules);
    }
}

/// Adds a rule; EEXIST if an identical one with the same priority exists (without a
/// priority the kernel assigns a fresh one, so there is never a duplicate).
pub fn add<T: Transport>(conn: &mut Connection<T>, spec: &RuleSpec) -> Result<()> {
    let context = format!("Unable to add rule {spec}");
    spec.validate(&context)?;
    conn.request(RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, &rule_request(spec), &context)?;
    Ok(())
}

/// Deletes the first rule matching the spec's selectors; ENOENT if there is none.
pub fn delete<T: Transport>(conn: &mut Connection<T>, spec: &RuleSpec) -> Result<()> {
    let context = format!("Unable to delete rule {spec}");
    spec.validate(&context)?;
    conn.request(RTM_DELRULE, 0, &rule_request(spec), &context)?;
    Ok(())
}

fn fib_rule_hdr(family: u8, table: u8, action: u8, flags: u32) -> Vec<u8> {
    // family, dst_len, src_len, tos, table, res1, res2, action, flags (u32)
    let mut out = vec![family, 0, 0, 0, table, 0, 0, action];
    out.extend(flags.to_ne_bytes());
    out
}

fn rule_request(spec: &RuleSpec) -> Vec<u8> {
    let header_table = u8::try_from(spec.table).unwrap_or(RT_TABLE_UNSPEC);
    let flags = if spec.invert { FIB_RULE_INVERT } else { 0 };
    let mut out = fib_rule_hdr(spec.family.af(), header_table, FR_ACT_TO_TBL, flags);
    if let Some(priority) = spec.priority {
        attr::push_u32(&mut out, FRA_PRIORITY, priority);
    }
    if let Some(mark) = spec.fwmark {
        attr::push_u32(&mut out, FRA_FWMARK, mark);
    }
    if header_table == RT_TABLE_UNSPEC {
        attr::push_u32(&mut out, FRA_TABLE, spec.table);
    }
    if let Some(len) = spec.suppress_prefix_len {
        attr::push_u32(&mut out, FRA_SUPPRESS_PREFIXLEN, len);
    }
    out
}

fn parse_rule(payload: &[u8]) -> Result<Option<Rule>> {
    let attrs = attr::parse(payload, FIB_RULE_HDR_LEN, "rule")?;
    let Some(family) = Family::from_af(payload[0]) else {
        return Ok(None);
    };
    let flags = attr::u32_of(&payload[8..12]).unwrap_or_default();
    let mut rule = Rule {
        family,
        priority: Some(0),
        table: payload[4] as u32,
        fwmark: None,
        fwmask: None,
        invert: flags & FIB_RULE_INVERT != 0,
        suppress_prefix_len: None,
        action: payload[7],
    };
    for (kind, value) in attrs {
        match kind {
            FRA_PRIORITY => rule.priority = attr::u32_of(value),
            FRA_FWMARK => rule.fwmark = attr::u32_of(value),
            FRA_FWMASK => rule.fwmask = attr::u32_of(value),
            FRA_TABLE => rule.table = attr::u32_of(value).unwrap_or(rule.table),
            FRA_SUPPRESS_PREFIXLEN => rule.suppress_prefix_len = attr::u32_of(value).filter(|v| *v != u32::MAX),
            _ => {}
        }
    }
    Ok(Some(rule))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::netlink::socket::fake::{ack, done, FakeTransport};
    use netlink_packet_core::NLM_F_MULTIPART;

    #[test]
    fn not_fwmark_rule_bytes() {
        let mut conn = Connection::new(FakeTransport::new(vec![vec![vec![ack(0)]]]));
        add(&mut conn, &RuleSpec::not_fwmark(Family::V4, 51820, 51820)).unwrap();
        let sent = &conn.transport().sent[0];
        assert_eq!(u16::from_ne_bytes([sent[4], sent[5]]), RTM_NEWRULE);
        assert_eq!(u16::from_ne_bytes([sent[6], sent[7]]), 0x1 | 0x4 | 0x400 | 0x200);
        let mut expected = fib_rule_hdr(2, 0, FR_ACT_TO_TBL, FIB_RULE_INVERT);
        attr::push_u32(&mut expected, FRA_FWMARK, 51820);
        attr::push_u32(&mut expected, FRA_TABLE, 51820);
        assert_eq!(&sent[16..], &expected[..]);
    }

    #[test]
    fn suppress_main_rule_bytes_and_delete() {
        let mut conn = Connection::new(FakeTransport::new(vec![vec![vec![ack(-libc::ENOENT)]]]));
        let err = delete(&mut conn, &RuleSpec::suppress_main(Family::V6)).unwrap_err();
        assert_eq!(
            err.message,
            "Unable to delete rule -6 table 254 suppress_prefixlength 0: No such file or directory"
        );
        let sent = &conn.transport().sent[0];
        assert_eq!(u16::from_ne_bytes([sent[4], sent[5]]), RTM_DELRULE);
        let mut expected = fib_rule_hdr(libc::AF_INET6 as u8, 254, FR_ACT_TO_TBL, 0);
        attr::push_u32(&mut expected, FRA_SUPPRESS_PREFIXLEN, 0);
        assert_eq!(&sent[16..], &expected[..]);
    }

    #[test]
    fn priority_is_sent_when_given_and_bad_specs_are_refused() {
        let mut conn = Connection::new(FakeTransport::new(vec![vec![vec![ack(0)]]]));
        let mut spec = RuleSpec::suppress_main(Family::V4);
        spec.priority = Some(100);
        add(&mut conn, &spec).unwrap();
        let attrs = attr::parse(&conn.transport().sent[0][16..], FIB_RULE_HDR_LEN, "rule").unwrap();
        assert_eq!(attrs[0], (FRA_PRIORITY, &100u32.to_ne_bytes()[..]));

        spec.suppress_prefix_len = Some(33);
        assert_eq!(add(&mut conn, &spec).unwrap_err().code, ErrorCode::InvalidArgument);
        spec.suppress_prefix_len = None;
        spec.table = 0;
        assert_eq!(add(&mut conn, &spec).unwrap_err().code, ErrorCode::InvalidArgument);
        assert_eq!(conn.transport().sent.len(), 1);
    }

    fn rule_reply(header: Vec<u8>, attrs: &[(u16, u32)]) -> (u16, u16, Vec<u8>) {
        let mut out = header;
        for (kind, value) in attrs {
            attr::push_u32(&mut out, *kind, *value);
        }
        (RTM_NEWRULE, NLM_F_MULTIPART, out)
    }

    #[test]
    fn list_decodes_rules() {
        let dump = vec![vec![
            rule_reply(fib_rule_hdr(2, 255, 1, 0), &[(FRA_TABLE, 255)]),
            rule_reply(
                fib_rule_hdr(2, 254, 1, 0),
                &[(FRA_PRIORITY, 32764), (FRA_TABLE, 254), (FRA_SUPPRESS_PREFIXLEN, 0)],
            ),
            rule_reply(
                fib_rule_hdr(2, 0, 1, FIB_RULE_INVERT),
                &[
                    (FRA_PRIORITY, 32765),
                    (FRA_FWMARK, 51820),
                    (FRA_FWMASK, u32::MAX),
                    (FRA_TABLE, 51820),
                ],
            ),
            rule_reply(
                fib_rule_hdr(2, 254, 1, 0),
                &[
                    (FRA_PRIORITY, 32766),
                    (FRA_TABLE, 254),
                    (FRA_SUPPRESS_PREFIXLEN, u32::MAX),
                ],
            ),
            done(0),
        ]];
        let mut conn = Connection::new(FakeTransport::new(vec![dump]));
        let rules = list(&mut conn, Family::V4).unwrap();
        assert_eq!(rules.len(), 4);
        assert_eq!((rules[0].priority, rules[0].table), (Some(0), 255));
        assert_eq!(rules[1].suppress_prefix_len, Some(0));
        assert_eq!(
            rules[2],
            Rule {
                family: Family::V4,
                priority: Some(32765),
                table: 51820,
                fwmark: Some(51820),
                fwmask: Some(u32::MAX),
                invert: true,
                suppress_prefix_len: None,
                action: FR_ACT_TO_TBL,
            }
        );
        assert_eq!(rules[3].suppress_prefix_len, None);
        let request = &conn.transport().sent[0];
        assert_eq!(u16::from_ne_bytes([request[4], request[5]]), RTM_GETRULE);
        assert_eq!(&request[16..], &fib_rule_hdr(2, 0, 0, 0)[..]);
    }
}
