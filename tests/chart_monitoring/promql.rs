//! PromQL held to the metrics contract, the part of `promtool check rules` that matters here and
//! more: an expression is parsed by `promql-parser` (Prometheus' grammar), then walked to find
//! every series it selects, the labels each sub-expression's result carries, and every label it
//! groups, matches or filters by. Unknown series, labels a series never has, and label values
//! outside a fixed set are reported as problems. Pure.

use std::collections::BTreeSet;

use promql_parser::{
    label::{MatchOp, Matchers},
    parser::{self, AggregateExpr, BinaryExpr, Call, Expr, LabelModifier, value::ValueType},
};

use super::contract;

/// One series selection: the series name and its label matchers.
#[derive(Debug, Clone)]
pub struct Selector {
    pub series: String,
    /// (label, operator, value), e.g. ("job", "=", "byoc-metrics").
    pub matchers: Vec<(String, String, String)>,
}

/// What a parsed expression selects and what its result carries.
#[derive(Debug)]
pub struct Analysis {
    pub value_type: ValueType,
    /// Labels the result's series carry.
    pub labels: BTreeSet<String>,
    pub selectors: Vec<Selector>,
    /// The φ of every `histogram_quantile(φ, …)`.
    pub quantiles: Vec<f64>,
    /// Everything that does not fit the contract; empty when the expression is sound.
    pub problems: Vec<String>,
    pub expr: Expr,
}

/// Parses `query` and checks it against the contract. Err: the parser's syntax error.
pub fn analyse(query: &str) -> Result<Analysis, String> {
    let expr = parser::parse(query)?;
    let mut walk = Walk::default();
    let labels = walk.labels(&expr);
    Ok(Analysis {
        value_type: expr.value_type(),
        labels,
        selectors: walk.selectors,
        quantiles: walk.quantiles,
        problems: walk.problems,
        expr,
    })
}

#[derive(Default)]
struct Walk {
    selectors: Vec<Selector>,
    quantiles: Vec<f64>,
    problems: Vec<String>,
}

fn names(modifier: &LabelModifier) -> BTreeSet<String> {
    modifier.labels().labels.iter().cloned().collect()
}

fn missing(wanted: &BTreeSet<String>, have: &BTreeSet<String>) -> Vec<String> {
    wanted.difference(have).cloned().collect()
}

impl Walk {
    /// The labels `expr`'s result carries, recording problems on the way.
    fn labels(&mut self, expr: &Expr) -> BTreeSet<String> {
        match expr {
            Expr::VectorSelector(vs) => self.selector(vs.name.as_deref(), &vs.matchers),
            Expr::MatrixSelector(ms) => self.selector(ms.vs.name.as_deref(), &ms.vs.matchers),
            Expr::Paren(p) => self.labels(&p.expr),
            Expr::Unary(u) => self.labels(&u.expr),
            Expr::Subquery(s) => self.labels(&s.expr),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => BTreeSet::new(),
            Expr::Aggregate(a) => self.aggregate(a),
            Expr::Binary(b) => self.binary(b),
            Expr::Call(c) => self.call(c),
            Expr::Extension(_) => {
                self.problems.push(format!("{expr}: not plain PromQL"));
                BTreeSet::new()
            }
        }
    }

    fn selector(&mut self, name: Option<&str>, matchers: &Matchers) -> BTreeSet<String> {
        let Some(name) = name else {
            self.problems.push("a selector without a metric name".to_string());
            return BTreeSet::new();
        };
        let all: Vec<_> =
            matchers.matchers.iter().chain(matchers.or_matchers.iter().flatten()).collect();
        self.selectors.push(Selector {
            series: name.to_string(),
            matchers: all
                .iter()
                .map(|m| (m.name.clone(), m.op.to_string(), m.value.clone()))
                .collect(),
        });
        let Some(series) = contract::series(name) else {
            self.problems.push(format!("{name} is not a metric of the contract"));
            return BTreeSet::new();
        };
        for m in &all {
            if !series.labels.contains(&m.name) {
                self.problems
                    .push(format!("{name} has no label {} (it has {:?})", m.name, series.labels));
                continue;
            }
            let exact = matches!(m.op, MatchOp::Equal | MatchOp::NotEqual);
            if let Some(values) = contract::fixed_values(series.family, &m.name)
                && exact
                && !values.contains(&m.value.as_str())
            {
                self.problems.push(format!(
                    "{name}{{{}{}\"{}\"}}: {} is never one of {values:?}",
                    m.name, m.op, m.value, m.name
                ));
            }
        }
        series.labels
    }

    fn aggregate(&mut self, a: &AggregateExpr) -> BTreeSet<String> {
        if let Some(param) = &a.param {
            self.labels(param);
        }
        let inner = self.labels(&a.expr);
        let op = a.op.to_string();
        if let Some(modifier) = &a.modifier {
            let grouping = names(modifier);
            let absent = missing(&grouping, &inner);
            if !absent.is_empty() {
                self.problems.push(format!(
                    "{op} groups by {absent:?}, which {} does not carry (it has {inner:?})",
                    a.expr
                ));
            }
        }
        match (op.as_str(), &a.modifier) {
            // These select series and keep their labels.
            ("topk" | "bottomk" | "limitk" | "limit_ratio", _) => inner,
            (_, Some(LabelModifier::Include(labels))) => labels.labels.iter().cloned().collect(),
            (_, Some(LabelModifier::Exclude(labels))) => {
                inner.into_iter().filter(|l| !labels.labels.contains(l)).collect()
            }
            (_, None) => BTreeSet::new(),
        }
    }

    fn binary(&mut self, b: &BinaryExpr) -> BTreeSet<String> {
        let lhs = self.labels(&b.lhs);
        let rhs = self.labels(&b.rhs);
        let vectors =
            b.lhs.value_type() == ValueType::Vector && b.rhs.value_type() == ValueType::Vector;
        if !vectors {
            return if b.lhs.value_type() == ValueType::Vector { lhs } else { rhs };
        }
        let matching = b.modifier.as_ref().and_then(|m| m.matching.as_ref());
        if let Some(modifier) = matching {
            let wanted = names(modifier);
            for (side, have) in [(&b.lhs, &lhs), (&b.rhs, &rhs)] {
                let absent = missing(&wanted, have);
                if !absent.is_empty() {
                    self.problems.push(format!(
                        "{} matches on {absent:?}, which {side} does not carry (it has {have:?})",
                        b.op
                    ));
                }
            }
        }
        let op = b.op.to_string();
        match (op.as_str(), matching) {
            ("and" | "unless", _) => lhs,
            ("or", _) => lhs.intersection(&rhs).cloned().collect(),
            (_, Some(LabelModifier::Include(on))) => {
                lhs.into_iter().filter(|l| on.labels.contains(l)).collect()
            }
            (_, Some(LabelModifier::Exclude(ignoring))) => {
                lhs.into_iter().filter(|l| !ignoring.labels.contains(l)).collect()
            }
            (_, None) => lhs,
        }
    }

    fn call(&mut self, c: &Call) -> BTreeSet<String> {
        let args: Vec<BTreeSet<String>> = c.args.args.iter().map(|a| self.labels(a)).collect();
        let name = c.func.name;
        if name == "histogram_quantile" {
            match c.args.args.first().map(|a| a.as_ref()) {
                Some(Expr::NumberLiteral(n)) => self.quantiles.push(n.val),
                other => self.problems.push(format!("histogram_quantile's φ is {other:?}")),
            }
            let buckets = args.get(1).cloned().unwrap_or_default();
            if !buckets.contains("le") {
                self.problems.push(format!("{c}: its argument has no le label"));
            }
            return buckets.into_iter().filter(|l| l != "le").collect();
        }
        match name {
            "absent" | "absent_over_time" | "vector" | "time" | "scalar" => BTreeSet::new(),
            _ => c
                .args
                .args
                .iter()
                .zip(args)
                .find(|(a, _)| matches!(a.value_type(), ValueType::Vector | ValueType::Matrix))
                .map(|(_, labels)| labels)
                .unwrap_or_default(),
        }
    }
}
