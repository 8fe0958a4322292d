//! SCIM filters (RFC 7644 §3.4.2.2), the part authd answers: `attr op value` with `eq`, `ne`,
//! `co`, `sw`, `ew`, `pr`, joined by `and` / `or`, with parentheses. Attribute paths are
//! compared case-insensitively (RFC 7643 §2.1); `not` and value filters (`emails[type eq
//! "work"]`) are refused as `invalidFilter`.

use std::fmt;

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        /// Lower-cased attribute path (`username`, `emails.value`).
        path: String,
        op: Op,
        value: Literal,
    },
    Present(String),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    Bool(bool),
    Number(f64),
    Null,
}

/// Why a filter was refused: the `detail` of an `invalidFilter` error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The longest filter read: a provisioning client's filters are a few dozen characters.
const MAX_LEN: usize = 1024;
/// How deep parentheses may nest.
const MAX_DEPTH: usize = 8;

pub fn parse(text: &str) -> Result<Filter, FilterError> {
    if text.len() > MAX_LEN {
        return Err(FilterError(
            "the filter is longer than 1024 characters".to_owned(),
        ));
    }
    let tokens = tokenize(text)?;
    let mut parser = Parser { tokens, at: 0 };
    let filter = parser.or(0)?;
    match parser.tokens.get(parser.at) {
        None => Ok(filter),
        Some(token) => Err(FilterError(format!("unexpected `{token}`"))),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Open,
    Close,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Word(word) => f.write_str(word),
            Token::Text(text) => write!(f, "\"{text}\""),
            Token::Open => f.write_str("("),
            Token::Close => f.write_str(")"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            '[' | ']' => {
                return Err(FilterError(
                    "value filters (`attr[...]`) are not supported".to_owned(),
                ));
            }
            '"' => {
                chars.next();
                let mut value = String::new();
                loop {
                    match chars.next() {
                        None => return Err(FilterError("a string is not closed".to_owned())),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(escaped @ ('"' | '\\' | '/')) => value.push(escaped),
                            Some('n') => value.push('\n'),
                            Some('t') => value.push('\t'),
                            _ => return Err(FilterError("a bad escape in a string".to_owned())),
                        },
                        Some(other) => value.push(other),
                    }
                }
                tokens.push(Token::Text(value));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '"' | '[' | ']') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn keyword(&self, keyword: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(word)) if word.eq_ignore_ascii_case(keyword))
    }

    fn or(&mut self, depth: usize) -> Result<Filter, FilterError> {
        let mut left = self.and(depth)?;
        while self.keyword("or") {
            self.at += 1;
            let right = self.and(depth)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Filter, FilterError> {
        let mut left = self.term(depth)?;
        while self.keyword("and") {
            self.at += 1;
            let right = self.term(depth)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn term(&mut self, depth: usize) -> Result<Filter, FilterError> {
        match self.next() {
            Some(Token::Open) => {
                if depth >= MAX_DEPTH {
                    return Err(FilterError("parentheses nest too deep".to_owned()));
                }
                let inner = self.or(depth + 1)?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err(FilterError("a `(` is not closed".to_owned())),
                }
            }
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("not") => {
                Err(FilterError("`not` is not supported".to_owned()))
            }
            Some(Token::Word(path)) => self.comparison(path),
            Some(other) => Err(FilterError(format!(
                "expected an attribute, found `{other}`"
            ))),
            None => Err(FilterError("the filter ends too soon".to_owned())),
        }
    }

    fn comparison(&mut self, path: String) -> Result<Filter, FilterError> {
        if !path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '$'))
        {
            return Err(FilterError(format!("`{path}` is not an attribute path")));
        }
        let path = path.to_ascii_lowercase();
        let op = match self.next() {
            Some(Token::Word(op)) => op.to_ascii_lowercase(),
            _ => return Err(FilterError(format!("`{path}` needs an operator"))),
        };
        let op = match op.as_str() {
            "pr" => return Ok(Filter::Present(path)),
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            other => return Err(FilterError(format!("`{other}` is not an operator"))),
        };
        let value = match self.next() {
            Some(Token::Text(text)) => Literal::Text(text),
            Some(Token::Word(word)) => match word.to_ascii_lowercase().as_str() {
                "true" => Literal::Bool(true),
                "false" => Literal::Bool(false),
                "null" => Literal::Null,
                number => number
                    .parse::<f64>()
                    .map(Literal::Number)
                    .map_err(|_| FilterError(format!("`{word}` is not a value")))?,
            },
            _ => return Err(FilterError(format!("`{path}` needs a value"))),
        };
        Ok(Filter::Compare { path, op, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compare(path: &str, op: Op, value: &str) -> Filter {
        Filter::Compare {
            path: path.to_owned(),
            op,
            value: Literal::Text(value.to_owned()),
        }
    }

    #[test]
    fn reads_what_provisioning_clients_send() {
        assert_eq!(
            parse(r#"userName eq "bjensen@example.com""#).unwrap(),
            compare("username", Op::Eq, "bjensen@example.com")
        );
        assert_eq!(
            parse(r#"userName sw "J" and emails.value co "example""#).unwrap(),
            Filter::And(
                Box::new(compare("username", Op::Sw, "J")),
                Box::new(compare("emails.value", Op::Co, "example"))
            )
        );
        assert_eq!(
            parse(r#"(displayName eq "a \"b\"") or externalId pr"#).unwrap(),
            Filter::Or(
                Box::new(compare("displayname", Op::Eq, "a \"b\"")),
                Box::new(Filter::Present("externalid".to_owned()))
            )
        );
        assert_eq!(
            parse("active eq TRUE").unwrap(),
            Filter::Compare {
                path: "active".to_owned(),
                op: Op::Eq,
                value: Literal::Bool(true)
            }
        );
    }

    #[test]
    fn refuses_what_it_does_not_answer_saying_why() {
        for bad in [
            "",
            "userName",
            "userName eq",
            r#"userName xx "a""#,
            r#"userName eq "open"#,
            r#"emails[type eq "work"]"#,
            r#"not (userName eq "a")"#,
            r#"(userName eq "a""#,
            r#"userName eq "a" extra"#,
            &"(".repeat(20),
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
