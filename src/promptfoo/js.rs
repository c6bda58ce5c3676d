//! Simple JavaScript expressions, as promptfoo's `javascript` assertions and `transform` options
//! hold them, translated to minijinja expressions (promptops' `expr`): comparisons, `&&`, `||`,
//! `!`, arithmetic, literals, `output`, `JSON.parse(output)` (→ `json`), `context.vars.x`
//! (→ `vars.x`), and the members `.length`, `.includes()`, `.startsWith()`, `.endsWith()`,
//! `.toLowerCase()`, `.toUpperCase()`, `.trim()`. Anything else — statements, functions,
//! other globals or methods — is refused with the construct named, never guessed at.

/// Translates `source`; the error names what has no equivalent.
pub fn translate(source: &str) -> Result<String, String> {
    let body = source.trim();
    let body = body.strip_prefix("return ").unwrap_or(body).trim().trim_end_matches(';').trim();
    if body.contains('\n') || body.contains(';') {
        return Err("a multi-statement JavaScript body".to_owned());
    }
    let tokens = tokenize(body)?;
    let mut parser = Parser { tokens, at: 0 };
    let out = parser.or()?;
    match parser.peek() {
        None => Ok(out),
        Some(token) => Err(format!("JavaScript `{}`", token.text())),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(String),
    Str(String),
    Ident(String),
    Op(&'static str),
}

impl Token {
    fn text(&self) -> String {
        match self {
            Self::Number(s) | Self::Ident(s) => s.clone(),
            Self::Str(s) => format!("{s:?}"),
            Self::Op(op) => (*op).to_owned(),
        }
    }
}

const OPS: [&str; 22] = [
    "===", "!==", "==", "!=", "<=", ">=", "&&", "||", "=>", "<", ">", "!", "+", "-", "*", "/", "%", "(", ")", ".", ",",
    "?",
];

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            out.push(Token::Number(chars[start..i].iter().collect()));
        } else if c == '\'' || c == '"' {
            let mut s = String::new();
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                }
                s.push(chars[i]);
                i += 1;
            }
            if i >= chars.len() {
                return Err("an unterminated string".to_owned());
            }
            i += 1;
            out.push(Token::Str(s));
        } else if c.is_alphabetic() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$') {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else {
            let rest: String = chars[i..chars.len().min(i + 3)].iter().collect();
            let Some(op) = OPS.iter().find(|op| rest.starts_with(**op)) else {
                return Err(format!("JavaScript `{c}`"));
            };
            if matches!(*op, "=>" | "?") {
                return Err(format!("JavaScript `{op}`"));
            }
            out.push(Token::Op(op));
            i += op.chars().count();
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn eat(&mut self, op: &str) -> bool {
        let found = self.is_op(op);
        if found {
            self.at += 1;
        }
        found
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Token::Op(o)) if *o == op)
    }

    fn expect(&mut self, op: &str) -> Result<(), String> {
        if self.is_op(op) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("an expression where `{op}` was expected"))
        }
    }

    fn binary(
        &mut self,
        ops: &[(&str, &str)],
        next: fn(&mut Self) -> Result<String, String>,
    ) -> Result<String, String> {
        let mut left = next(self)?;
        'outer: loop {
            for (js, jinja) in ops {
                if self.is_op(js) {
                    self.at += 1;
                    let right = next(self)?;
                    left = format!("({left} {jinja} {right})");
                    continue 'outer;
                }
            }
            return Ok(left);
        }
    }

    fn or(&mut self) -> Result<String, String> {
        self.binary(&[("||", "or")], Self::and)
    }

    fn and(&mut self) -> Result<String, String> {
        self.binary(&[("&&", "and")], Self::comparison)
    }

    fn comparison(&mut self) -> Result<String, String> {
        let ops = [
            ("===", "=="),
            ("!==", "!="),
            ("==", "=="),
            ("!=", "!="),
            ("<=", "<="),
            (">=", ">="),
            ("<", "<"),
            (">", ">"),
        ];
        self.binary(&ops, Self::sum)
    }

    fn sum(&mut self) -> Result<String, String> {
        self.binary(&[("+", "+"), ("-", "-")], Self::product)
    }

    fn product(&mut self) -> Result<String, String> {
        self.binary(&[("*", "*"), ("/", "/"), ("%", "%")], Self::unary)
    }

    fn unary(&mut self) -> Result<String, String> {
        if self.eat("!") {
            return Ok(format!("(not {})", self.unary()?));
        }
        if self.eat("-") {
            return Ok(format!("(-{})", self.unary()?));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<String, String> {
        let mut value = self.primary()?;
        while self.eat(".") {
            let Some(Token::Ident(member)) = self.peek().cloned() else {
                return Err("a member access without a name".to_owned());
            };
            self.at += 1;
            let called = self.is_op("(");
            value = match (member.as_str(), called) {
                ("length", false) => format!("({value}|length)"),
                ("toLowerCase", true) => self.no_args().map(|()| format!("({value}|lower)"))?,
                ("toUpperCase", true) => self.no_args().map(|()| format!("({value}|upper)"))?,
                ("trim", true) => self.no_args().map(|()| format!("({value}|trim)"))?,
                ("includes", true) => format!("({} in {value})", self.one_arg()?),
                ("startsWith", true) => format!("({value} is startingwith({}))", self.one_arg()?),
                ("endsWith", true) => format!("({value} is endingwith({}))", self.one_arg()?),
                (name, true) => return Err(format!("the JavaScript method `.{name}()`")),
                (name, false) => format!("{value}.{name}"),
            };
        }
        Ok(value)
    }

    fn no_args(&mut self) -> Result<(), String> {
        self.expect("(")?;
        self.expect(")")
    }

    fn one_arg(&mut self) -> Result<String, String> {
        self.expect("(")?;
        let arg = self.or()?;
        self.expect(")")?;
        Ok(arg)
    }

    fn primary(&mut self) -> Result<String, String> {
        let Some(token) = self.peek().cloned() else { return Err("an incomplete expression".to_owned()) };
        self.at += 1;
        match token {
            Token::Number(n) => Ok(n),
            Token::Str(s) => Ok(serde_json::Value::String(s).to_string()),
            Token::Op("(") => {
                let inner = self.or()?;
                self.expect(")")?;
                Ok(format!("({inner})"))
            }
            Token::Op(op) => Err(format!("JavaScript `{op}`")),
            Token::Ident(name) => self.identifier(&name),
        }
    }

    fn identifier(&mut self, name: &str) -> Result<String, String> {
        match name {
            "output" => Ok("output".to_owned()),
            "true" | "false" => Ok(name.to_owned()),
            "null" | "undefined" => Ok("none".to_owned()),
            "JSON" => {
                let parse = [
                    Token::Op("."),
                    Token::Ident("parse".into()),
                    Token::Op("("),
                    Token::Ident("output".into()),
                    Token::Op(")"),
                ];
                if self.tokens.get(self.at..self.at + 5) == Some(&parse[..]) {
                    self.at += 5;
                    Ok("json".to_owned())
                } else {
                    Err("`JSON` other than `JSON.parse(output)`".to_owned())
                }
            }
            "context" => {
                let vars = [Token::Op("."), Token::Ident("vars".into())];
                if self.tokens.get(self.at..self.at + 2) == Some(&vars[..]) {
                    self.at += 2;
                    Ok("vars".to_owned())
                } else {
                    Err("`context` other than `context.vars`".to_owned())
                }
            }
            "vars" => Ok("vars".to_owned()),
            other => Err(format!("the JavaScript name `{other}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn simple_expressions_translate() {
        assert_eq!(translate("output.length > 10").as_deref(), Ok("((output|length) > 10)"));
        assert_eq!(
            translate("output.includes('Paris') && !output.includes(\"London\")").as_deref(),
            Ok("((\"Paris\" in output) and (not (\"London\" in output)))")
        );
        assert_eq!(translate("return JSON.parse(output).score >= 0.5;").as_deref(), Ok("(json.score >= 0.5)"));
        assert_eq!(
            translate("output.toLowerCase() === context.vars.city").as_deref(),
            Ok("((output|lower) == vars.city)")
        );
        assert_eq!(translate("output.trim()").as_deref(), Ok("(output|trim)"));
    }

    #[test]
    fn what_has_no_equivalent_is_named() {
        assert_eq!(translate("output.split(',').length").unwrap_err(), "the JavaScript method `.split()`");
        assert_eq!(translate("Math.max(1, 2)").unwrap_err(), "the JavaScript name `Math`");
        assert_eq!(translate("const x = 1;\nreturn x").unwrap_err(), "a multi-statement JavaScript body");
        assert_eq!(translate("(x) => x").unwrap_err(), "JavaScript `=>`");
    }
}
