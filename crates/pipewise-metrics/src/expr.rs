//! What the compiler needs to know about a metric's SQL expressions, read
//! from the parsed expression (DataFusion's own `sqlparser`), never by
//! searching SQL text: which columns it reads, whether it is a 0/1 count,
//! whether it can be evaluated on any row without failing.

use pipewise_engine::datafusion::sql::sqlparser::{
    ast::{self, BinaryOperator, Expr, Value},
    dialect::GenericDialect,
    parser::Parser,
    tokenizer::Token,
};
use std::collections::BTreeSet;
use std::ops::ControlFlow;

/// A parsed SQL expression over a metric's rows.
#[derive(Debug, Clone)]
pub(crate) struct Expression {
    ast: Expr,
}

/// The placeholders a definition may use (`{period_start}` …). Before an
/// expression is parsed each becomes an identifier, `__period_start__`
/// (no name is a prefix of another), which [`crate::compile`] fills in.
pub(crate) const PLACEHOLDERS: [&str; 5] = [
    "period_start",
    "period_end",
    "period_start_date",
    "period_end_date",
    "period_days",
];

/// `{period_days}` as an identifier: the period's number of days, never 0.
const PERIOD_DAYS: &str = "__period_days__";

/// A definition's expression with its placeholders as identifiers.
pub(crate) fn with_placeholder_idents(sql: &str) -> String {
    let mut out = sql.to_string();
    for p in PLACEHOLDERS {
        out = out.replace(&format!("{{{p}}}"), &format!("__{p}__"));
    }
    out
}

impl Expression {
    /// Parse one expression (placeholders as identifiers).
    pub(crate) fn parse(sql: &str) -> Result<Expression, String> {
        let ast = Parser::new(&GenericDialect {})
            .try_with_sql(sql)
            .and_then(|mut p| {
                let e = p.parse_expr()?;
                // the whole text must be the one expression
                p.expect_token(&Token::EOF)?;
                Ok(e)
            })
            .map_err(|e| e.to_string())?;
        Ok(Expression { ast })
    }

    /// Parse a definition's expression as written.
    pub(crate) fn parse_template(sql: &str) -> Result<Expression, String> {
        Expression::parse(&with_placeholder_idents(sql))
    }

    /// Every column the expression reads (lower case; the last part of a
    /// qualified name).
    pub(crate) fn columns(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let _ = ast::visit_expressions(&self.ast, |e| {
            match e {
                Expr::Identifier(i) => {
                    out.insert(i.value.to_lowercase());
                }
                Expr::CompoundIdentifier(parts) => {
                    if let Some(i) = parts.last() {
                        out.insert(i.value.to_lowercase());
                    }
                }
                _ => {}
            }
            ControlFlow::<()>::Continue(())
        });
        out
    }

    /// Is the expression a 0/1 count? `Some(None)` for `1`,
    /// `Some(Some(condition))` for `CASE WHEN condition THEN 1 ELSE 0 END`
    /// (one branch, no operand), else `None`.
    pub(crate) fn count_condition(&self) -> Option<Option<String>> {
        let e = unnest(&self.ast);
        if number(e) == Some(1.0) {
            return Some(None);
        }
        match e {
            Expr::Case {
                operand: None,
                conditions,
                else_result: Some(otherwise),
                ..
            } if conditions.len() == 1
                && number(unnest(&conditions[0].result)) == Some(1.0)
                && number(unnest(otherwise)) == Some(0.0) =>
            {
                Some(Some(conditions[0].condition.to_string()))
            }
            _ => None,
        }
    }

    /// Does the expression add nothing: `NULL` or `0`?
    pub(crate) fn is_nothing(&self) -> bool {
        let e = unnest(&self.ast);
        number(e) == Some(0.0) || matches!(e, Expr::Value(v) if matches!(v.value, Value::Null))
    }

    /// Can the expression be evaluated on any row without failing? A
    /// division (or remainder) by a non-zero number literal is safe; one by
    /// anything else (a column that may be zero) is not.
    pub(crate) fn safe_everywhere(&self) -> bool {
        ast::visit_expressions(&self.ast, |e| match e {
            Expr::BinaryOp {
                op: BinaryOperator::Divide | BinaryOperator::Modulo | BinaryOperator::MyIntegerDivide,
                right,
                ..
            } if !never_zero(unnest(right)) => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        })
        .is_continue()
    }
}

/// The expression inside any parentheses.
fn unnest(mut e: &Expr) -> &Expr {
    while let Expr::Nested(inner) = e {
        e = inner;
    }
    e
}

/// A non-zero number literal, or `{period_days}` (a period has days).
fn never_zero(e: &Expr) -> bool {
    number(e).is_some_and(|x| x != 0.0)
        || matches!(e, Expr::Identifier(i) if i.value == PERIOD_DAYS)
}

/// A number literal's value.
fn number(e: &Expr) -> Option<f64> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(s: &str) -> Expression {
        Expression::parse(s).unwrap()
    }

    #[test]
    fn counts_are_recognised_from_the_parsed_expression() {
        assert_eq!(e("1").count_condition(), Some(None));
        assert_eq!(e(" ( 1 ) ").count_condition(), Some(None));
        assert_eq!(
            e("CASE WHEN is_won THEN 1 ELSE 0 END").count_condition(),
            Some(Some("is_won".into()))
        );
        assert_eq!(
            e("case when amount > 10 and stage = 'A' then 1 else 0 end").count_condition(),
            Some(Some("amount > 10 AND stage = 'A'".into()))
        );
        // a nested CASE inside the condition is still one condition
        assert_eq!(
            e("CASE WHEN (CASE WHEN a THEN b END) THEN 1 ELSE 0 END").count_condition(),
            Some(Some("(CASE WHEN a THEN b END)".into()))
        );
        for not_a_count in [
            "CASE WHEN a THEN 1 WHEN b THEN 1 ELSE 0 END",
            "CASE WHEN a THEN 2 ELSE 0 END",
            "CASE WHEN a THEN 1 END",
            "CASE x WHEN 1 THEN 1 ELSE 0 END",
            "amount",
            "2",
        ] {
            assert_eq!(e(not_a_count).count_condition(), None, "{not_a_count}");
        }
    }

    #[test]
    fn divisions_by_columns_are_not_safe_everywhere() {
        assert!(e("amount * 2").safe_everywhere());
        assert!(e("date_part('epoch', closed_at - created_at) / 86400.0").safe_everywhere());
        assert!(e("x / (86400)").safe_everywhere());
        assert!(e("x / 0.5").safe_everywhere());
        assert!(!e("x / 0").safe_everywhere());
        assert!(!e("amount / quota").safe_everywhere());
        assert!(!e("CASE WHEN a THEN amount / (b + 1) END").safe_everywhere());
        assert!(!e("x % y").safe_everywhere());
        assert!(
            Expression::parse_template("30.4375 / {period_days}")
                .unwrap()
                .safe_everywhere()
        );
    }

    #[test]
    fn columns_are_read_from_identifiers_only() {
        let cols = e("CASE WHEN f.owner_team = 'start_x' THEN coalesce(start_amount, amount) END")
            .columns();
        assert_eq!(
            cols.into_iter().collect::<Vec<_>>(),
            ["amount", "owner_team", "start_amount"]
        );
        assert!(e("NULL").is_nothing() && e("0").is_nothing() && !e("1").is_nothing());
    }

    #[test]
    fn a_template_parses_with_its_placeholders_and_trailing_text_is_an_error() {
        assert!(
            Expression::parse_template("closed_at >= {period_start} AND x < {period_days}").is_ok()
        );
        assert!(Expression::parse("is_won is_lost").is_err());
        assert!(Expression::parse("CASE WHEN THEN").is_err());
    }
}
