//! `ping`: an application-level ping; a `req` is answered with its `dat` echoed.

use skypod_protocol::Typ;
use skypod_protocol::envelope::RawEnvelope;

use super::Step;

pub fn apply(env: &RawEnvelope<'_>) -> Step {
    match env.typ {
        Typ::Req => {
            let dat = env.dat.map(|d| d.get()).unwrap_or("{}");
            let seq = env.seq.unwrap_or(0);
            Step::Reply(format!(r#"{{"typ":"res","msg":"ping","seq":{seq},"dat":{dat}}}"#).into())
        }
        _ => Step::Continue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ping_req_is_echoed_and_an_evt_only_counts_as_activity() {
        let env =
            RawEnvelope::parse(r#"{"typ":"req","msg":"ping","seq":9,"dat":{"t":1.5}}"#).unwrap();
        match apply(&env) {
            Step::Reply(t) => {
                assert_eq!(
                    t.as_str(),
                    r#"{"typ":"res","msg":"ping","seq":9,"dat":{"t":1.5}}"#
                )
            }
            _ => panic!("no reply"),
        }
        let env = RawEnvelope::parse(r#"{"typ":"evt","msg":"ping"}"#).unwrap();
        assert!(matches!(apply(&env), Step::Continue));
    }
}
