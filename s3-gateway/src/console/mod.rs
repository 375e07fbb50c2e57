//! The web console: a gateway's second listener (`--console ADDR`) with
//! pages for operators and users, every asset built into the binary.
//!
//! - Sign-in with an access key and its secret ([`session`]); a session
//!   cookie, a CSRF token on every change.
//! - Overview (capacity, objects, segment health, repair, audits, the
//!   durability estimate, charts of the last hour from [`history`]) and
//!   nodes (table, a picture of the mesh by region, a page per node with
//!   its audit history): the gateway's own view, shown to every signed-in
//!   key, as `cairn status` shows it to the operator.
//! - Buckets and objects: every action is an S3 request signed as the
//!   signed-in key and sent to the gateway's own S3 stack ([`s3call`]), so
//!   a key sees and does in the console exactly what it may through S3.
//! - Keys and grants, for keys given the `admin` right
//!   (`cairn gateway key allow KEY --admin`).
//! - The signed-in key's pins and compute jobs.
//!
//! Pages are rendered on the server (minijinja templates); charts are
//! inline SVG ([`chart`]); one small script adds live refresh, uploads
//! with progress (multipart for large files) and share links.

pub mod chart;
pub mod history;
pub mod s3call;
pub mod session;

mod assets;
mod pages;
mod render;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::admin::Admin;
use crate::admin::manage::Manage;
use crate::health::HealthConfig;
use crate::http::conn::ClientInfo;
use crate::jobs::JobStore;
use crate::pins::PinStore;
use history::History;
use s3call::S3Caller;
use session::{Session, Sessions};

/// What the console needs besides the gateway's parts.
#[derive(Clone, Debug)]
pub struct ConsoleSettings {
    /// Data shards per segment of new objects.
    pub k: usize,
    /// Parity shards.
    pub m: usize,
    /// Devnet timings (for the durability estimate).
    pub devnet: bool,
    /// Health settings (for the durability estimate).
    pub health: HealthConfig,
    /// Whether the console is served over HTTPS (cookies marked Secure).
    pub secure: bool,
}

/// The console. Cheap to clone: every connection holds one, and all share
/// the sessions, history and templates behind the `Arc`.
#[derive(Clone)]
pub struct Console {
    inner: Arc<Inner>,
}

struct Inner {
    admin: Admin,
    manage: Manage,
    s3: S3Caller,
    jobs: JobStore,
    pins: PinStore,
    sessions: Sessions,
    history: History,
    templates: minijinja::Environment<'static>,
    settings: ConsoleSettings,
    /// The durability estimate for (nodes, regions) it was made for.
    durability: Mutex<Option<((usize, usize), String)>>,
}

/// One answer to the browser.
pub type Answer = http::Response<s3s::Body>;

/// The most a form may send.
const MAX_FORM: usize = 64 << 10;

/// A request being answered, after sign-in.
pub(crate) struct Ctx {
    /// The signed-in key's session.
    pub session: Session,
    /// Whether the key has the admin right.
    pub admin: bool,
    /// The browser's connection.
    pub client: Option<ClientInfo>,
    /// The query string's pairs (the first of each name).
    pub query: HashMap<String, String>,
}

impl Ctx {
    /// Query parameter `name`, or "".
    pub fn q(&self, name: &str) -> &str {
        self.query.get(name).map_or("", String::as_str)
    }
}

impl Console {
    /// A console over the gateway's parts; `history` is sampled by its own
    /// task (see [`History::run`]).
    pub fn new(
        admin: Admin,
        manage: Manage,
        s3: S3Caller,
        jobs: JobStore,
        pins: PinStore,
        history: History,
        settings: ConsoleSettings,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                admin,
                manage,
                s3,
                jobs,
                pins,
                sessions: Sessions::default(),
                history,
                templates: render::templates(),
                settings,
                durability: Mutex::new(None),
            }),
        }
    }

    /// Answers one request.
    pub async fn answer(&self, req: http::Request<s3s::Body>) -> Answer {
        let client = req.extensions().get::<ClientInfo>().copied();
        let path = req.uri().path().to_owned();
        let method = req.method().clone();
        let query = parse_pairs(req.uri().query().unwrap_or("").as_bytes());
        use http::Method;
        match (&method, path.as_str()) {
            (&Method::GET, p) if p.starts_with("/assets/") => return assets::serve(p),
            (&Method::GET, "/login") => return pages::login::page(self, &query, None),
            (&Method::POST, "/login") => return pages::login::sign_in(self, req).await,
            _ => {}
        }
        let sid = session::cookie_value(req.headers());
        let Some(session) = sid.as_deref().and_then(|id| self.inner.sessions.get(id)) else {
            return if method == Method::GET && !path.starts_with("/api/") {
                let next = req
                    .uri()
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned();
                render::redirect(&format!("/login?next={}", s3call::encode(&next)))
            } else {
                render::json_error(401, "sign in first")
            };
        };
        let admin = match self.inner.manage.is_admin(&session.access_key).await {
            Ok(admin) => admin,
            Err(e) => return render::json_error(503, &format!("metadata: {e}")),
        };
        let ctx = Ctx {
            session,
            admin,
            client,
            query,
        };
        // Changes need the session's CSRF token: forms send it as a field
        // (checked where the form is read), scripts as a header.
        let changes = !matches!(method, Method::GET | Method::HEAD);
        let header_token = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let form = if changes && header_token.is_none() {
            match read_form(req.into_body()).await {
                Ok(form) => form,
                Err(answer) => return answer,
            }
        } else if changes {
            if !header_token
                .as_deref()
                .is_some_and(|t| session::same_secret(t, &ctx.session.csrf))
            {
                return render::json_error(403, "the page is stale: reload it and try again");
            }
            return pages::api::route(self, &ctx, &method, &path, req).await;
        } else {
            drop(req);
            HashMap::new()
        };
        if changes
            && !form
                .get("csrf")
                .is_some_and(|t| session::same_secret(t, &ctx.session.csrf))
        {
            return render::html(
                403,
                "<p>This form has expired: go back, reload the page and try again.</p>".into(),
            );
        }
        if (&method, path.as_str()) == (&Method::POST, "/logout") {
            if let Some(id) = sid {
                self.inner.sessions.end(&id);
            }
            let mut answer = render::redirect("/login");
            render::set_cookie(&mut answer, &session::set_cookie(None, self.secure()));
            return answer;
        }
        pages::route(self, &ctx, &method, &path, form).await
    }

    fn secure(&self) -> bool {
        self.inner.settings.secure
    }

    /// The durability estimate for the nodes in view now (remade when
    /// their number or regions change).
    pub(crate) async fn durability(&self) -> String {
        let cluster = self.inner.admin.nodes.cluster();
        let shape = (cluster.len(), cluster.regions().len());
        if let Some((made_for, text)) = &*self.inner.durability.lock().expect("not poisoned")
            && *made_for == shape
        {
            return text.clone();
        }
        let s = self.inner.settings.clone();
        let text = tokio::task::spawn_blocking(move || {
            crate::health::durability_estimate::estimate_for(
                s.k, s.m, s.devnet, &s.health, &cluster,
            )
        })
        .await
        .unwrap_or_else(|_| "no estimate".into());
        *self.inner.durability.lock().expect("not poisoned") = Some((shape, text.clone()));
        text
    }

    /// Serves the console on `listener` (over TLS with `tls`) until
    /// `shutdown`, with the S3 endpoint's connection limits.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
        limits: crate::http::conn::ConnLimits,
        metrics: crate::metrics::GatewayMetrics,
        shutdown: impl Future<Output = ()>,
    ) {
        crate::http::conn::serve(
            listener,
            tls,
            ConsoleService(self),
            limits,
            CONSOLE_CONNECTIONS,
            metrics,
            shutdown,
        )
        .await;
    }
}

/// Connections the console holds at once (browsers open a few each).
const CONSOLE_CONNECTIONS: usize = 256;

/// The console as a hyper service.
#[derive(Clone)]
struct ConsoleService(Console);

impl hyper::service::Service<http::Request<s3s::Body>> for ConsoleService {
    type Response = Answer;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<Answer, std::convert::Infallible>> + Send + 'static>,
    >;

    fn call(&self, req: http::Request<s3s::Body>) -> Self::Future {
        let console = self.0.clone();
        Box::pin(async move { Ok(console.answer(req).await) })
    }
}

/// `name=value&...` pairs, the first of each name.
pub(crate) fn parse_pairs(bytes: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (name, value) in form_urlencoded::parse(bytes) {
        out.entry(name.into_owned())
            .or_insert_with(|| value.into_owned());
    }
    out
}

/// A url-encoded form body (at most [`MAX_FORM`]).
async fn read_form(body: s3s::Body) -> Result<HashMap<String, String>, Answer> {
    match s3call::read_bounded(body, MAX_FORM).await {
        Ok(bytes) => Ok(parse_pairs(&bytes)),
        Err(_) => Err(render::html(
            413,
            "<p>The form is too large.</p>".to_owned(),
        )),
    }
}

/// Starts sampling `metrics` into `history` (every 10 s).
pub fn spawn_history(history: History, metrics: crate::metrics::GatewayMetrics) {
    tokio::spawn(history.run(metrics));
}

/// How long a share link lasts unless asked otherwise.
pub const SHARE_DEFAULT: Duration = Duration::from_secs(24 * 3600);
