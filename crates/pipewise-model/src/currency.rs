//! Exchange rates, the way Salesforce converts: each rate is units of a
//! currency per one unit of the corporate currency, so a converted amount is
//! `amount / rate`. Static rates hold always; dated rates (Advanced Currency
//! Management) hold from their start date to the next one's, and an amount
//! is converted with the rate of its close date.

use crate::time::Date;
use std::collections::BTreeMap;

/// One rate of one currency: from `start` (inclusive) to `end` (exclusive);
/// both `None` for a static rate.
#[derive(Debug, Clone, Copy, PartialEq)]
#[allow(missing_docs)] // a rate and the dates it holds between
pub struct RateSpan {
    pub start: Option<Date>,
    pub end: Option<Date>,
    pub rate: f64,
}

/// The rates of an org or workspace.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rates {
    corporate: String,
    rates: BTreeMap<String, Vec<RateSpan>>,
}

/// How an amount was converted: the rate used and the converted amount.
#[derive(Debug, Clone, Copy, PartialEq)]
#[allow(missing_docs)] // an amount in the corporate currency and how it was converted
pub struct Converted {
    pub amount: f64,
    pub rate: f64,
}

impl Rates {
    /// Rates with `corporate` as the corporate currency (rate 1).
    pub fn new(corporate: &str) -> Rates {
        Rates {
            corporate: corporate.trim().to_ascii_uppercase(),
            rates: BTreeMap::new(),
        }
    }

    /// The corporate currency's code.
    pub fn corporate(&self) -> &str {
        &self.corporate
    }

    /// Whether there are no rates (one currency).
    pub fn is_empty(&self) -> bool {
        self.rates.is_empty()
    }

    /// Add a rate (static when `start` and `end` are `None`).
    pub fn add(&mut self, code: &str, span: RateSpan) {
        let spans = self
            .rates
            .entry(code.trim().to_ascii_uppercase())
            .or_default();
        spans.push(span);
        spans.sort_by_key(|s| s.start);
    }

    /// The currencies with a rate, corporate included.
    pub fn codes(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.rates.keys().map(String::as_str).collect();
        if !v.contains(&self.corporate.as_str()) {
            v.push(&self.corporate);
            v.sort_unstable();
        }
        v
    }

    /// Every span, by currency (for storing the table).
    pub fn spans(&self) -> impl Iterator<Item = (&str, &RateSpan)> {
        self.rates
            .iter()
            .flat_map(|(c, s)| s.iter().map(move |x| (c.as_str(), x)))
    }

    /// The rate of `code` on day `on`: a dated rate whose span holds `on`
    /// when there is one, else the static rate; 1 for the corporate currency.
    pub fn rate(&self, code: &str, on: Option<Date>) -> Option<f64> {
        let code = code.trim().to_ascii_uppercase();
        if code == self.corporate {
            return Some(1.0);
        }
        let spans = self.rates.get(&code)?;
        if let Some(d) = on
            && let Some(s) = spans.iter().find(|s| {
                s.start.is_some() && s.start.is_none_or(|a| a <= d) && s.end.is_none_or(|b| d < b)
            })
        {
            return Some(s.rate);
        }
        spans
            .iter()
            .find(|s| s.start.is_none() && s.end.is_none())
            .map(|s| s.rate)
    }

    /// `amount` in `code` converted to the corporate currency on day `on`.
    pub fn to_corporate(&self, amount: f64, code: &str, on: Option<Date>) -> Option<Converted> {
        let rate = self.rate(code, on).filter(|r| *r > 0.0 && r.is_finite())?;
        Some(Converted {
            amount: amount / rate,
            rate,
        })
    }

    /// A corporate amount shown in `code` (at its static rate).
    pub fn from_corporate(&self, amount: f64, code: &str) -> Option<f64> {
        self.rate(code, None)
            .filter(|r| *r > 0.0 && r.is_finite())
            .map(|r| amount * r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::ymd;

    #[test]
    fn static_and_dated_rates_as_salesforce_converts() {
        let mut r = Rates::new("usd");
        let span = |a: Option<(i32, u32, u32)>, b: Option<(i32, u32, u32)>, rate| RateSpan {
            start: a.and_then(|(y, m, d)| ymd(y, m, d)),
            end: b.and_then(|(y, m, d)| ymd(y, m, d)),
            rate,
        };
        r.add("JPY", span(None, None, 150.0));
        r.add("EUR", span(None, None, 0.9));
        r.add("EUR", span(Some((2025, 1, 1)), Some((2025, 4, 1)), 0.8));
        r.add("EUR", span(Some((2025, 4, 1)), None, 0.95));
        assert_eq!(r.rate("USD", None), Some(1.0));
        // 15,000,000 yen at 150 per dollar are 100,000 dollars.
        assert_eq!(
            r.to_corporate(15_000_000.0, "JPY", ymd(2025, 2, 1))
                .unwrap()
                .amount,
            100_000.0
        );
        // Dated rates by close date: 8,000 EUR closing in February at 0.8 = 10,000 USD.
        assert_eq!(
            r.to_corporate(8_000.0, "eur", ymd(2025, 2, 1))
                .unwrap()
                .amount,
            10_000.0
        );
        assert_eq!(r.rate("EUR", ymd(2025, 4, 1)), Some(0.95));
        // Before any dated span: the static rate.
        assert_eq!(r.rate("EUR", ymd(2024, 12, 31)), Some(0.9));
        assert_eq!(r.rate("EUR", None), Some(0.9));
        assert_eq!(r.rate("GBP", None), None);
        assert_eq!(r.from_corporate(100.0, "JPY"), Some(15_000.0));
        assert_eq!(r.codes(), vec!["EUR", "JPY", "USD"]);
    }
}
