//! Browser tabs for the fault runs and the soak: each holds one page of a view over the console's
//! live stream, applies its frames as the browser does, and reconnects a second after its socket
//! drops (as the page's live client does; never a page reload).

use futures::StreamExt;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use wukong_view::{Filter, LiveMessage, View, VmKey, VmRow};

/// `count` tabs, tab i on page i mod (pages) of `filter` with `page_size` rows a page over `rows`
/// rows; closed when dropped, or at `deadline`.
pub(crate) struct Browsers {
    pub(crate) pages: Vec<Arc<Mutex<Page>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Browsers {
    /// Opens them and waits until each has its first page.
    pub(crate) async fn open(
        console: &str,
        count: usize,
        filter: &Filter,
        rows: usize,
        page_size: u32,
        deadline: Instant,
    ) -> Result<Browsers, String> {
        let pages = u32::try_from(rows.div_ceil(page_size.max(1) as usize).max(1)).unwrap_or(1);
        let pages: Vec<Arc<Mutex<Page>>> = (0..count)
            .map(|i| {
                let view = View {
                    filter: filter.clone(),
                    page: u32::try_from(i).unwrap_or(0) % pages,
                    page_size,
                    ..View::default()
                }
                .normalized();
                Arc::new(Mutex::new(Page::new(view)))
            })
            .collect();
        let tasks = pages
            .iter()
            .map(|page| tokio::spawn(browser(console.to_owned(), page.clone(), deadline)))
            .collect();
        let browsers = Browsers { pages, tasks };
        wait_connected(&browsers.pages).await?;
        Ok(browsers)
    }

    /// How many times their sockets were opened again.
    pub(crate) fn reconnects(&self) -> u64 {
        self.pages
            .iter()
            .filter_map(|c| c.lock().ok().map(|p| p.reconnects))
            .sum()
    }
}

impl Drop for Browsers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// One browser's page, as its live stream has built it.
pub(crate) struct Page {
    pub(crate) view: View,
    pub(crate) rows: BTreeMap<VmKey, VmRow>,
    seq: u64,
    connected: bool,
    pub(crate) reconnects: u64,
}

impl Page {
    pub(crate) fn new(view: View) -> Page {
        Page {
            view,
            rows: BTreeMap::new(),
            seq: 0,
            connected: false,
            reconnects: 0,
        }
    }

    /// What the browser does with a frame (`app::state::ConsoleState::apply`).
    fn apply(&mut self, message: LiveMessage) {
        match message {
            LiveMessage::Snapshot(s) => {
                if s.view != self.view {
                    return;
                }
                self.seq = s.seq;
                self.rows = s.rows.into_iter().map(|r| (r.key.clone(), r)).collect();
                self.connected = true;
            }
            LiveMessage::Upsert { seq, row } if seq > self.seq => {
                self.seq = seq;
                if let Some(old) = self.rows.get_mut(&row.key) {
                    *old = row;
                }
            }
            LiveMessage::Remove { seq, key } if seq > self.seq => {
                self.seq = seq;
                self.rows.remove(&key);
            }
            LiveMessage::Upstream { seq, .. } | LiveMessage::Controller { seq, .. } => {
                self.seq = self.seq.max(seq);
            }
            _ => {}
        }
    }
}

/// A browser tab: its socket, and a new one a second after it drops (no page reload).
async fn browser(console: String, page: Arc<Mutex<Page>>, deadline: Instant) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;
    let query = page.lock().map(|p| p.view.to_query()).unwrap_or_default();
    while Instant::now() < deadline {
        let Ok(mut request) = format!("ws://{console}/live?{query}").into_client_request() else {
            return;
        };
        if let Ok(origin) = format!("http://{console}").parse() {
            request.headers_mut().insert("origin", origin);
        }
        let connected = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(request),
        )
        .await;
        if let Ok(Ok((mut socket, _))) = connected {
            loop {
                let remaining = deadline.saturating_duration_since(Instant::now());
                let Ok(Some(Ok(frame))) = tokio::time::timeout(remaining, socket.next()).await
                else {
                    break;
                };
                if let Message::Text(text) = frame {
                    if let Ok(message) = serde_json::from_str::<LiveMessage>(&text) {
                        if let Ok(mut p) = page.lock() {
                            p.apply(message);
                        }
                    }
                }
            }
        }
        if let Ok(mut p) = page.lock() {
            p.connected = false;
            p.reconnects += 1;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn wait_connected(clients: &[Arc<Mutex<Page>>]) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let connected = clients
            .iter()
            .filter(|c| c.lock().is_ok_and(|p| p.connected))
            .count();
        if connected == clients.len() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{connected} of {} clients connected within 120 s",
                clients.len()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
