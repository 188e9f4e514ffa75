//! Paystack's webhook body, parsed into what the platform acts on. Paystack's own
//! samples are loose (`"metadata": 0`, two addresses in `ip_address`, both
//! `paid_at` and `paidAt`, fields that are null or absent): only the fields read
//! here are typed, and a field of an unexpected type reads as absent instead of
//! refusing the delivery (Paystack would retry it for 72 h).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::domain::ids::PaymentRef;
use crate::domain::payment::{ChargeReport, ChargeStatus};

/// A signed delivery, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEvent {
    /// Paystack's event name, as sent (`charge.success`, `charge.dispute.create`, ...).
    pub name: String,
    pub kind: EventKind,
    /// The payment reference the event is about, if it names one (1-200 characters).
    pub reference: Option<PaymentRef>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// `charge.success`: the only event that says whether a charge went through
    /// (and even then only with `status: "success"`).
    ChargeSuccess(ChargeReport),
    /// `charge.dispute.*`: the member disputed the charge with their bank.
    Dispute,
    /// Anything else: recorded, acted on by nobody.
    Other,
}

/// The body is not JSON, or has no event name.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a Paystack event")]
pub struct Malformed;

#[derive(Deserialize)]
struct Envelope {
    event: String,
    #[serde(default, deserialize_with = "lenient_object")]
    data: Option<Data>,
}

#[derive(Default, Deserialize)]
struct Data {
    #[serde(default, deserialize_with = "lenient")]
    reference: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    status: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    amount: Option<i64>,
    #[serde(default, deserialize_with = "lenient")]
    currency: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    gateway_response: Option<String>,
    /// Dispute events name their charge here ...
    #[serde(default, deserialize_with = "lenient_object")]
    transaction: Option<TransactionRef>,
    /// ... or here.
    #[serde(default, deserialize_with = "lenient")]
    transaction_reference: Option<String>,
}

#[derive(Deserialize)]
struct TransactionRef {
    #[serde(default, deserialize_with = "lenient")]
    reference: Option<String>,
}

/// A field of the expected type, or `None` for null, absent or anything else.
fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(value).ok())
}

/// An object of the expected shape, or `None` for anything else (an array is not
/// read field by field).
fn lenient_object<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(if value.is_object() { serde_json::from_value(value).ok() } else { None })
}

fn usable(reference: Option<String>) -> Option<PaymentRef> {
    reference.filter(|r| !r.is_empty() && r.len() <= 200).map(PaymentRef::new)
}

/// Parses a delivery whose signature was checked. The body is read as a JSON
/// object first (an array is not an event; a repeated key keeps its last value),
/// then its fields.
pub fn parse(body: &[u8]) -> Result<WebhookEvent, Malformed> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| Malformed)?;
    if !value.is_object() {
        return Err(Malformed);
    }
    let Envelope { event: name, data } = serde_json::from_value(value).map_err(|_| Malformed)?;
    let data = data.unwrap_or_default();
    let direct = usable(data.reference);
    if name.starts_with("charge.dispute.") {
        let reference = usable(data.transaction.and_then(|t| t.reference))
            .or_else(|| usable(data.transaction_reference))
            .or(direct);
        return Ok(WebhookEvent { name, kind: EventKind::Dispute, reference });
    }
    let kind = if name == "charge.success" {
        EventKind::ChargeSuccess(ChargeReport {
            // A charge.success without a status is not proof of payment: it reads as
            // pending, and reconcile asks Paystack.
            status: data.status.as_deref().map_or(ChargeStatus::Pending, ChargeStatus::parse),
            amount: data.amount,
            currency: data.currency,
            gateway_response: data.gateway_response,
        })
    } else {
        EventKind::Other
    };
    Ok(WebhookEvent { name, kind, reference: direct })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("fixtures/charge_success.json");

    #[test]
    fn paystacks_own_sample_shape_parses() {
        let e = parse(SAMPLE.as_bytes()).expect("Paystack's sample");
        assert_eq!(e.name, "charge.success");
        assert_eq!(e.reference.as_deref(), Some("pay_01fixture"));
        let EventKind::ChargeSuccess(report) = e.kind else { panic!("a charge.success") };
        assert_eq!(report.status, ChargeStatus::Success);
        assert_eq!((report.amount, report.currency.as_deref()), (Some(10000), Some("KES")));
        assert_eq!(report.gateway_response.as_deref(), Some("Approved by Financial Institution"));
    }

    #[test]
    fn fields_of_an_unexpected_type_read_as_absent() {
        let body =
            br#"{"event":"charge.success","data":{"reference":42,"status":null,"amount":"10000","currency":["KES"]}}"#;
        let e = parse(body).expect("still an event");
        assert_eq!(e.reference, None);
        let EventKind::ChargeSuccess(report) = e.kind else { panic!("a charge.success") };
        assert_eq!((report.status, report.amount, report.currency), (ChargeStatus::Pending, None, None));
        let e = parse(br#"{"event":"charge.success","data":0}"#).expect("still an event");
        assert_eq!(e.reference, None);
    }

    #[test]
    fn disputes_name_their_charge_in_the_transaction() {
        let body = br#"{"event":"charge.dispute.create","data":{"id":1,"transaction":{"reference":"pay_1"}}}"#;
        assert_eq!(
            parse(body).map(|e| (e.kind, e.reference)),
            Ok((EventKind::Dispute, Some(PaymentRef::new("pay_1"))))
        );
        let body = br#"{"event":"charge.dispute.remind","data":{"transaction_reference":"pay_2"}}"#;
        assert_eq!(parse(body).map(|e| e.reference), Ok(Some(PaymentRef::new("pay_2"))));
        let body = format!(r#"{{"event":"charge.dispute.create","data":{{"reference":"{}"}}}}"#, "x".repeat(201));
        assert_eq!(parse(body.as_bytes()).map(|e| e.reference), Ok(None));
    }

    #[test]
    fn other_events_are_recorded_not_acted_on_and_garbage_is_refused() {
        let e = parse(br#"{"event":"transfer.success","data":{"reference":"t_1"}}"#).expect("an event");
        assert_eq!((e.kind, e.reference.as_deref()), (EventKind::Other, Some("t_1")));
        assert_eq!(parse(b"not json"), Err(Malformed));
        assert_eq!(parse(br#"{"data":{}}"#), Err(Malformed));
        assert_eq!(parse(br#"{"event":7}"#), Err(Malformed));
        assert_eq!(parse(br#"["charge.success",["pay_1","success",10000,"KES"]]"#), Err(Malformed));
        let e = parse(br#"{"event":"charge.success","data":["pay_1","success",10000,"KES"]}"#).expect("an event");
        assert_eq!(e.reference, None, "an array is no data");
        let e = parse(br#"{"event":"charge.failed","event":"charge.success","data":{"reference":"pay_3"}}"#);
        assert_eq!(e.map(|e| e.name), Ok("charge.success".into()), "a repeated key keeps its last value");
    }
}
