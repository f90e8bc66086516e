//! Snapshot tests: one outline per language. Refresh with `UPDATE_EXPECT=1 cargo test`.

use super::*;
use expect_test::{Expect, expect};

pub(super) fn outline(language: Language, source: &str) -> String {
    let file = Extractor::new()
        .extract(language, source, Duration::from_secs(5))
        .expect("parses");
    let mut out = String::new();
    if !file.doc.is_empty() {
        out.push_str(&format!("file doc: {}\n", file.doc.replace('\n', " / ")));
    }
    for import in &file.imports {
        out.push_str(&format!("import {import}\n"));
    }
    for symbol in &file.symbols {
        let mut depth = 0;
        let mut parent = symbol.parent;
        while let Some(p) = parent {
            depth += 1;
            parent = file.symbols[p as usize].parent;
        }
        out.push_str(&format!(
            "{}{} {} [{}] {}-{} `{}`",
            "  ".repeat(depth),
            symbol.kind,
            symbol.qualified_name,
            symbol.visibility.as_deref().unwrap_or("-"),
            symbol.start_line,
            symbol.end_line,
            symbol.signature,
        ));
        if !symbol.doc.is_empty() {
            out.push_str(&format!(" doc: {}", symbol.summary()));
        }
        if !symbol.calls.is_empty() {
            out.push_str(&format!(" calls: {}", symbol.calls.join(",")));
        }
        out.push('\n');
    }
    out
}

fn check(language: Language, source: &str, expected: Expect) {
    expected.assert_eq(&outline(language, source));
}

#[test]
fn rust() {
    check(
        Language::Rust,
        r#"//! Routing of requests.
use std::collections::HashMap;

/// A table of routes.
///
/// More detail here.
#[derive(Debug)]
pub struct Router<T> {
    routes: HashMap<String, T>,
}

impl<T: Clone> Router<T> {
    /// Creates an empty router.
    pub fn new() -> Self {
        Router { routes: HashMap::new() }
    }

    pub(crate) fn route(&self, path: &str) -> Option<T> {
        self.routes.get(path).cloned()
    }
}

pub trait Handler {
    /// Handles one request.
    fn handle(&self, request: &str) -> String;
}

pub enum Method { Get, Post }

mod inner {
    pub fn helper() { super::log("x"); format!("y"); }
}

macro_rules! route { () => {} }

pub const MAX: usize = 10;
"#,
        expect![[r#"
            file doc: Routing of requests.
            import use std::collections::HashMap;
            struct Router [pub] 8-10 `#[derive(Debug)] pub struct Router<T>` doc: A table of routes.
              field Router::routes [-] 9-9 `routes: HashMap<String, T>`
              method Router::new [pub] 14-16 `pub fn new() -> Self` doc: Creates an empty router. calls: new
              method Router::route [pub(crate)] 18-20 `pub(crate) fn route(&self, path: &str) -> Option<T>` calls: cloned,get
            trait Handler [pub] 23-26 `pub trait Handler`
              method Handler::handle [-] 25-25 `fn handle(&self, request: &str) -> String;` doc: Handles one request.
            enum Method [pub] 28-28 `pub enum Method`
              variant Method::Get [-] 28-28 `Get`
              variant Method::Post [-] 28-28 `Post`
            module inner [-] 30-32 `mod inner`
              function inner::helper [pub] 31-31 `pub fn helper()` calls: format,log
            macro route [-] 34-34 `macro_rules! route`
            constant MAX [pub] 36-36 `pub const MAX: usize`
        "#]],
    );
}

#[test]
fn python() {
    check(
        Language::Python,
        r#""""Webhook handling."""
import hmac
from flask import Flask, request

class WebhookView(BaseView):
    """Receives webhooks.

    Longer text.
    """

    @staticmethod
    def verify_signature(payload, signature):
        """Checks the HMAC signature of a webhook payload."""
        return hmac.compare_digest(sign(payload), signature)

    class Config:
        retries = 3

    def _private(self):
        pass

@app.route("/hook")
def receive():
    view = WebhookView()
    return view.verify_signature(request.data, request.headers["X-Sig"])
"#,
        expect![[r#"
            file doc: Webhook handling.
            import import hmac
            import from flask import Flask, request
            class WebhookView [public] 5-20 `class WebhookView(BaseView)` doc: Receives webhooks.
              method WebhookView.verify_signature [public] 11-14 `@staticmethod def verify_signature(payload, signature)` doc: Checks the HMAC signature of a webhook payload. calls: compare_digest,sign
              class WebhookView.Config [public] 16-17 `class Config`
              method WebhookView._private [private] 19-20 `def _private(self)`
            function receive [public] 22-25 `@app.route("/hook") def receive()` calls: WebhookView,verify_signature
        "#]],
    );
}

#[test]
fn javascript() {
    check(
        Language::JavaScript,
        r#"import express from 'express';

/** Creates the application. */
export function createApp(options) {
  const app = express();
  app.use(logger());
  return app;
}

export class Server extends Base {
  #secret = 1;
  constructor(port) { super(); this.port = port; }
  /** Starts listening. */
  listen() { return this.app.listen(this.port); }
}

// Parses a header value.
const parseHeader = (value) => value.split(',');
"#,
        expect![[r#"
            import import express from 'express';
            function createApp [-] 4-8 `export function createApp(options)` doc: Creates the application. calls: express,logger,use
            class Server [-] 10-15 `export class Server extends Base`
              property Server.#secret [private] 11-11 `#secret`
              constructor Server.constructor [-] 12-12 `constructor(port)`
              method Server.listen [-] 14-14 `listen()` doc: Starts listening. calls: listen
            function parseHeader [-] 18-18 `const parseHeader = (value) =>` calls: split
        "#]],
    );
}

#[test]
fn typescript() {
    check(
        Language::TypeScript,
        r#"import { Request } from './http';

/** A user of the system. */
export interface User {
  id: string;
  name(): string;
}

export type Id = string | number;

export enum Role { Admin, Developer }

export abstract class Repository<T> {
  private items: T[] = [];
  /** Finds one item by id. */
  public find(id: Id): T | undefined { return this.items.find(i => matches(i, id)); }
  abstract save(item: T): void;
}

namespace Validation {
  export function isValid(s: string): boolean { return s.length > 0; }
}

function overloaded(a: string): string;
function overloaded(a: number): number;
function overloaded(a: any): any { return a; }
"#,
        expect![[r#"
            import import { Request } from './http';
            interface User [-] 4-7 `export interface User` doc: A user of the system.
              method User.name [-] 6-6 `name(): string`
            type Id [-] 9-9 `export type Id = string | number;`
            enum Role [-] 11-11 `export enum Role`
            class Repository [-] 13-18 `export abstract class Repository<T>`
              property Repository.items [private] 14-14 `private items: T[]`
              method Repository.find [public] 16-16 `public find(id: Id): T | undefined` doc: Finds one item by id. calls: find,matches
              method Repository.save [-] 17-17 `abstract save(item: T): void`
            namespace Validation [-] 20-22 `namespace Validation`
              function Validation.isValid [-] 21-21 `export function isValid(s: string): boolean`
            function overloaded [-] 24-24 `function overloaded(a: string): string;`
            function overloaded [-] 25-25 `function overloaded(a: number): number;`
            function overloaded [-] 26-26 `function overloaded(a: any): any`
        "#]],
    );
}

#[test]
fn tsx() {
    check(
        Language::Tsx,
        r#"/** Renders the user list. */
export function UserList({ users }: Props) {
  return <ul>{users.map(u => <li key={u.id}>{formatName(u)}</li>)}</ul>;
}
"#,
        expect![[r#"
            file doc: Renders the user list.
            function UserList [-] 2-4 `export function UserList({ users }: Props)` doc: Renders the user list. calls: formatName,map
        "#]],
    );
}

#[test]
fn go() {
    check(
        Language::Go,
        r#"// Package server serves HTTP.
package server

import (
	"net/http"
)

// Server holds the listener.
type Server struct {
	Addr string
	mux  *http.ServeMux
}

// Handler handles things.
type Handler interface {
	Serve(w http.ResponseWriter) error
}

// ListenAndServe starts the server.
func (s *Server) ListenAndServe() error {
	return http.ListenAndServe(s.Addr, s.mux)
}

func newServer[T any](addr string) *Server {
	return &Server{Addr: addr}
}

const DefaultPort = 8080
"#,
        expect![[r#"
            file doc: Package server serves HTTP.
            import import ( "net/http" )
            struct Server [exported] 9-12 `type Server` doc: Server holds the listener.
              field Server.Addr [exported] 10-10 `Addr string`
              field Server.mux [unexported] 11-11 `mux *http.ServeMux`
            interface Handler [exported] 15-17 `type Handler` doc: Handler handles things.
              method Handler.Serve [exported] 16-16 `Serve(w http.ResponseWriter) error`
              method Server.ListenAndServe [exported] 20-22 `func (s *Server) ListenAndServe() error` doc: ListenAndServe starts the server. calls: ListenAndServe
            function newServer [unexported] 24-26 `func newServer[T any](addr string) *Server`
            constant DefaultPort [exported] 28-28 `const DefaultPort`
        "#]],
    );
}

#[test]
fn java() {
    check(
        Language::Java,
        r#"package com.example;

import java.util.List;

/** Manages accounts. */
public class AccountService {
    private final List<String> names;

    /** Builds the service. */
    public AccountService(List<String> names) { this.names = names; }

    @GetMapping("/accounts")
    public List<String> list() { return names; }

    public <T> T convert(Class<T> type) { return type.cast(load()); }
    public void convert(String s) {}

    static class Cache {
        void clear() {}
    }

    enum Status { OPEN, CLOSED }
}
"#,
        expect![[r#"
            import import java.util.List;
            class AccountService [public] 6-23 `public class AccountService` doc: Manages accounts.
              field AccountService.names [private] 7-7 `private final List<String> names;`
              constructor AccountService.AccountService [public] 10-10 `public AccountService(List<String> names)` doc: Builds the service.
              method AccountService.list [public] 12-13 `@GetMapping("/accounts") public List<String> list()`
              method AccountService.convert [public] 15-15 `public <T> T convert(Class<T> type)` calls: cast,load
              method AccountService.convert [public] 16-16 `public void convert(String s)`
              class AccountService.Cache [-] 18-20 `static class Cache`
                method AccountService.Cache.clear [-] 19-19 `void clear()`
              enum AccountService.Status [-] 22-22 `enum Status`
                variant AccountService.Status.OPEN [-] 22-22 `OPEN`
                variant AccountService.Status.CLOSED [-] 22-22 `CLOSED`
        "#]],
    );
}

#[test]
fn c() {
    check(
        Language::C,
        r#"#include <stdio.h>
#define MAX_LEN 64

/* A point in space. */
struct point {
    int x;
    int y;
};

typedef struct point point_t;

/* Adds two points. */
static struct point add(struct point a, struct point b) {
    return make_point(a.x + b.x, a.y + b.y);
}

int *find(const char *name);

enum color { RED, GREEN };
"#,
        expect![[r#"
            import #include <stdio.h>
            macro MAX_LEN [-] 2-3 `#define MAX_LEN`
            struct point [-] 5-8 `struct point`
              field point.x [-] 6-6 `int x;`
              field point.y [-] 7-7 `int y;`
            type point_t [-] 10-10 `typedef struct point point_t;`
            function add [static] 13-15 `static struct point add(struct point a, struct point b)` calls: make_point
            function find [-] 17-17 `int *find(const char *name);`
            enum color [-] 19-19 `enum color`
              variant color.RED [-] 19-19 `RED`
              variant color.GREEN [-] 19-19 `GREEN`
        "#]],
    );
}

#[test]
fn cpp() {
    check(
        Language::Cpp,
        r#"#include <vector>

namespace geo {

/// A shape with an area.
class Shape {
public:
    virtual double area() const = 0;
    void scale(double factor);
};

template <typename T>
T max_of(const std::vector<T>& values) {
    return *std::max_element(values.begin(), values.end());
}

}  // namespace geo

void geo::Shape::scale(double factor) {
    resize(factor);
}
"#,
        expect![[r#"
            import #include <vector>
            namespace geo [-] 3-17 `namespace geo`
              class geo::Shape [-] 6-10 `class Shape` doc: A shape with an area.
                method geo::Shape::area [-] 8-8 `virtual double area() const = 0;`
                method geo::Shape::scale [-] 9-9 `void scale(double factor);`
              function geo::max_of [-] 12-15 `template <typename T> T max_of(const std::vector<T>& values)` calls: begin,end,max_element
                method geo::Shape::scale [-] 19-21 `void geo::Shape::scale(double factor)` calls: resize
        "#]],
    );
}

#[test]
fn csharp() {
    check(
        Language::CSharp,
        r#"using System;

namespace Payments
{
    /// <summary>Processes payments.</summary>
    public class PaymentProcessor : IProcessor
    {
        private readonly int retries;

        public PaymentProcessor(int retries) { this.retries = retries; }

        public string Name { get; set; }

        [HttpPost]
        public async Task<bool> Charge(decimal amount) { return await Gateway.Send(amount); }
    }

    public interface IProcessor { Task<bool> Charge(decimal amount); }

    public enum Currency { Usd, Eur }
}
"#,
        expect![[r#"
            import using System;
            namespace Payments [-] 3-21 `namespace Payments`
              class Payments.PaymentProcessor [public] 6-16 `public class PaymentProcessor : IProcessor` doc: Processes payments.
                field Payments.PaymentProcessor.retries [private] 8-8 `private readonly int retries;`
                constructor Payments.PaymentProcessor.PaymentProcessor [public] 10-10 `public PaymentProcessor(int retries)`
                property Payments.PaymentProcessor.Name [public] 12-12 `public string Name { get; set; }`
                method Payments.PaymentProcessor.Charge [public] 14-15 `[HttpPost] public async Task<bool> Charge(decimal amount)` calls: Send
              interface Payments.IProcessor [public] 18-18 `public interface IProcessor`
                method Payments.IProcessor.Charge [-] 18-18 `Task<bool> Charge(decimal amount);`
              enum Payments.Currency [public] 20-20 `public enum Currency`
                variant Payments.Currency.Usd [-] 20-20 `Usd`
                variant Payments.Currency.Eur [-] 20-20 `Eur`
        "#]],
    );
}

#[test]
fn ruby() {
    check(
        Language::Ruby,
        r#"require 'json'

# Billing logic.
module Billing
  # An invoice for a customer.
  class Invoice < Base
    # Totals the lines.
    def total
      lines.sum { |l| l.amount }
    end

    def self.build(attrs)
      new(attrs)
    end
  end
end

def helper
  puts "hi"
end
"#,
        expect![[r#"
            import require 'json'
            module Billing [public] 4-16 `module Billing` doc: Billing logic.
              class Billing::Invoice [public] 6-15 `class Invoice < Base` doc: An invoice for a customer.
                method Billing::Invoice::total [public] 8-10 `def total` doc: Totals the lines. calls: amount,sum
                method Billing::Invoice::build [public] 12-14 `def self.build(attrs)` calls: new
            function helper [public] 18-20 `def helper` calls: puts
        "#]],
    );
}

#[test]
fn deeply_nested_code_does_not_overflow_the_stack() {
    let depth = 5_000;
    let source = format!(
        "fn f() {{ let x = {}1{}; }}",
        "(".repeat(depth),
        ")".repeat(depth)
    );
    let file = Extractor::new()
        .extract(Language::Rust, &source, Duration::from_secs(10))
        .expect("parses");
    assert_eq!(file.symbols.len(), 1);
    assert_eq!(file.symbols[0].name, "f");
}

#[test]
fn parsing_that_takes_too_long_is_abandoned() {
    let source = "x = [".to_string() + &"1, ".repeat(2_000_000) + "]";
    let result = Extractor::new().extract(Language::Python, &source, Duration::from_millis(1));
    assert_eq!(result, Err(ExtractError::Timeout(Duration::from_millis(1))));
    // The extractor is still usable afterwards.
    let file = Extractor::new()
        .extract(Language::Python, "def ok(): pass\n", Duration::from_secs(1))
        .unwrap();
    assert_eq!(file.symbols[0].name, "ok");
}

#[test]
fn text_files_yield_identifiers() {
    let file = Extractor::new()
        .extract(
            Language::Text,
            "webhook_secret: x\nretry-count 3",
            Duration::from_secs(1),
        )
        .unwrap();
    assert!(file.references.contains("webhook_secret"));
    assert!(file.references.contains("retry"));
}

#[test]
fn redacted_source_masks_literals_and_comments_and_keeps_lines() {
    let source = "// internal: the vendor is Acme\nfn pay() {\n    let note = \"wire to acct 42\";\n    /* multi\n       line */\n    send(note);\n}\n";
    let masked =
        mask_literals_and_comments(Language::Rust, source, Duration::from_secs(1)).unwrap();
    expect![[r#"
        //…
        fn pay() {
            let note = "…";
            /*…*/

            send(note);
        }
    "#]]
    .assert_eq(&masked);
    assert_eq!(masked.lines().count(), source.lines().count());
    assert!(!masked.contains("Acme") && !masked.contains("acct 42") && !masked.contains("multi"));
    let python = mask_literals_and_comments(
        Language::Python,
        "def f():\n    \"\"\"Doc.\"\"\"\n    return 'x'  # why\n",
        Duration::from_secs(1),
    )
    .unwrap();
    assert!(!python.contains("Doc") && !python.contains("why") && python.contains("return"));
    assert_eq!(
        mask_literals_and_comments(Language::Text, "x", Duration::from_secs(1)),
        None
    );
}
