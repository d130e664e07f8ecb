//! TEMPORARY stub (replaced by the edges branch).
#![allow(dead_code)]
use super::proto::{Request, Response};
use std::io;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};

#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
}

#[derive(Debug)]
pub struct ControlCall {
    pub request: Request,
    pub caller: Caller,
    pub reply: oneshot::Sender<Response>,
}

#[derive(Debug)]
pub struct ControlListener {
    l: UnixListener,
    path: PathBuf,
}

pub async fn bind(path: &Path) -> io::Result<ControlListener> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p)?;
    }
    let _ = std::fs::remove_file(path);
    Ok(ControlListener {
        l: UnixListener::bind(path)?,
        path: path.to_owned(),
    })
}

impl ControlListener {
    pub fn path(&self) -> &Path {
        &self.path
    }
    pub async fn serve(self, tx: mpsc::Sender<ControlCall>) {
        loop {
            let Ok((s, _)) = self.l.accept().await else {
                continue;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let (r, mut w) = s.into_split();
                let mut line = String::new();
                let mut r = BufReader::new(r);
                if r.read_line(&mut line).await.is_err() {
                    return;
                }
                let resp = match serde_json::from_str::<Request>(&line) {
                    Ok(request) => {
                        let (rtx, rrx) = oneshot::channel();
                        let _ = tx
                            .send(ControlCall {
                                request,
                                caller: Caller {
                                    uid: 0,
                                    gid: 0,
                                    pid: None,
                                },
                                reply: rtx,
                            })
                            .await;
                        rrx.await.unwrap_or(Response::Error {
                            message: "daemon gone".into(),
                        })
                    }
                    Err(e) => Response::Error {
                        message: e.to_string(),
                    },
                };
                let mut out = serde_json::to_string(&resp).unwrap_or_default();
                out.push('\n');
                let _ = w.write_all(out.as_bytes()).await;
            });
        }
    }
}
