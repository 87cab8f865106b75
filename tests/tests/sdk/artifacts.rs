//! Artifacts: uploads from memory, streams and files; listing; whole, streamed, ranged
//! and to-file downloads; checksum verification; deletion; retries; and uploads from a
//! worker's task context.

use std::time::Duration;

use agentops_sdk::resources::ArtifactUpload;
use agentops_sdk::types::TaskStatus;
use agentops_sdk::{TaskContext, Worker};
use futures_util::TryStreamExt;
use serde_json::json;

use crate::helpers::{ADMIN_KEY, Backend, Fault, FaultProxy, TestApp, client_for};
use crate::on_both_backends;

async fn artifacts_are_uploaded_listed_downloaded_and_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let task = app.task(project, "echo", json!({})).await;
    let artifacts = app.client.artifacts();

    let note = artifacts
        .upload(
            ArtifactUpload::for_task(task.id, "note.txt").content_type("text/plain"),
            "hello, artifact",
        )
        .await
        .unwrap();
    assert_eq!(note.task_id, Some(task.id));
    assert_eq!(note.project_id, project);
    assert_eq!(note.size, 15);
    assert_eq!(note.content_type, "text/plain");
    assert_eq!(artifacts.get(note.id).await.unwrap(), note);

    let chunks = futures_util::stream::iter(
        (0..64).map(|i| Ok::<_, std::io::Error>(format!("line {i:04}\n").into_bytes())),
    );
    let streamed = artifacts
        .upload_stream(ArtifactUpload::for_project(project, "lines.txt"), chunks)
        .await
        .unwrap();
    assert_eq!(streamed.task_id, None);
    assert_eq!(streamed.size, 64 * 10);

    let path = std::env::temp_dir().join(format!("agentops-sdk-{}.bin", uuid::Uuid::new_v4()));
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    tokio::fs::write(&path, &payload).await.unwrap();
    let from_file = artifacts
        .upload_file(ArtifactUpload::for_task(task.id, "data.bin"), &path)
        .await
        .unwrap();
    assert_eq!(from_file.size, payload.len() as u64);
    assert_eq!(from_file.content_type, "application/octet-stream");

    let of_task: Vec<_> = artifacts
        .list()
        .task(task.id)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(of_task.len(), 2);
    let of_project = artifacts.list().project(project).limit(1).stream();
    let of_project: Vec<_> = of_project.try_collect().await.unwrap();
    assert_eq!(of_project.len(), 3);

    let download = artifacts.download(note.id).await.unwrap();
    assert_eq!(download.content_type(), Some("text/plain"));
    assert_eq!(download.len(), Some(15));
    assert_eq!(download.sha256(), Some(note.sha256.as_str()));
    assert!(!download.is_partial());
    assert_eq!(&download.bytes().await.unwrap()[..], b"hello, artifact");

    let part = artifacts
        .download_range(note.id, 7, Some(14))
        .await
        .unwrap();
    assert!(part.is_partial());
    assert_eq!(&part.bytes().await.unwrap()[..], b"artifact");
    let tail = artifacts.download_range(note.id, 7, None).await.unwrap();
    assert_eq!(&tail.bytes().await.unwrap()[..], b"artifact");

    let chunks: Vec<_> = artifacts
        .download(from_file.id)
        .await
        .unwrap()
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(chunks.concat(), payload);
    let copy = path.with_extension("copy");
    let written = artifacts
        .download(from_file.id)
        .await
        .unwrap()
        .to_file(&copy)
        .await
        .unwrap();
    assert_eq!(written, payload.len() as u64);
    assert_eq!(tokio::fs::read(&copy).await.unwrap(), payload);
    let _ = tokio::fs::remove_file(&path).await;
    let _ = tokio::fs::remove_file(&copy).await;

    artifacts.delete(note.id).await.unwrap();
    assert!(artifacts.get(note.id).await.unwrap_err().is_not_found());
    assert!(
        artifacts
            .download(note.id)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

async fn a_checksum_mismatch_stores_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let upload = ArtifactUpload::for_project(project, "x.txt").sha256("0".repeat(64));
    let err = app
        .client
        .artifacts()
        .upload(upload, "not matching")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("checksum_mismatch"), "{err:?}");
    let listed = app
        .client
        .artifacts()
        .list()
        .project(project)
        .send()
        .await
        .unwrap();
    assert!(listed.items.is_empty());

    // The right checksum (as the server computed it for the same bytes) is accepted.
    let first = app
        .client
        .artifacts()
        .upload(ArtifactUpload::for_project(project, "a.txt"), "same bytes")
        .await
        .unwrap();
    let second = app
        .client
        .artifacts()
        .upload(
            ArtifactUpload::for_project(project, "b.txt").sha256(first.sha256.clone()),
            "same bytes",
        )
        .await
        .unwrap();
    assert_eq!(second.sha256, first.sha256);
}

async fn downloads_are_retried_and_uploads_are_stored_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let proxy = FaultProxy::start(app.server.addr).await;
    let client = client_for(&proxy.base, ADMIN_KEY);
    let project = app.project().await;
    let stored = app
        .client
        .artifacts()
        .upload(ArtifactUpload::for_project(project, "r.txt"), "retry me")
        .await
        .unwrap();

    proxy.inject([Fault::Status(503, None), Fault::Status(502, None)]);
    let bytes = client
        .artifacts()
        .download(stored.id)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&bytes[..], b"retry me");

    // The answer to an upload from memory is lost after the server stored it: the retry
    // carries the same Idempotency-Key and gets the first artifact back.
    proxy.inject([Fault::DropAnswer]);
    let once = client
        .artifacts()
        .upload(ArtifactUpload::for_project(project, "once.txt"), "once")
        .await
        .unwrap();
    let posts: Vec<_> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.method == "POST")
        .collect();
    assert_eq!(posts.len(), 2, "the lost answer's upload was repeated");
    assert!(posts[0].idempotency_key.is_some());
    assert_eq!(posts[0].idempotency_key, posts[1].idempotency_key);
    let named_once = |items: &[agentops_sdk::types::ArtifactOut]| {
        items.iter().filter(|a| a.name == "once.txt").count()
    };
    let listed = app
        .client
        .artifacts()
        .list()
        .project(project)
        .send()
        .await
        .unwrap();
    assert_eq!(named_once(&listed.items), 1, "stored once");
    assert!(listed.items.iter().any(|a| a.id == once.id));

    // A streamed body cannot be sent twice: a file's upload is not repeated.
    let path = std::env::temp_dir().join(format!("agentops-sdk-{}.txt", uuid::Uuid::new_v4()));
    tokio::fs::write(&path, b"streamed").await.unwrap();
    proxy.inject([Fault::DropAnswer]);
    let err = client
        .artifacts()
        .upload_file(ArtifactUpload::for_project(project, "file.txt"), &path)
        .await
        .unwrap_err();
    let _ = tokio::fs::remove_file(&path).await;
    assert!(
        matches!(err, agentops_sdk::Error::Transport { .. }),
        "{err:?}"
    );
    let streamed_posts = proxy
        .seen()
        .into_iter()
        .filter(|s| s.method == "POST")
        .count();
    assert_eq!(streamed_posts, 3, "a streamed upload is not repeated");
}

/// The caller's own key: a repeat of the same upload returns the first artifact, the
/// same key with other bytes is refused and stores nothing.
async fn an_upload_with_its_own_key_is_stored_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let artifacts = app.client.artifacts();
    let upload = ArtifactUpload::for_project(project, "report.md")
        .content_type("text/markdown")
        .idempotency_key(format!("{project}/report.md"));

    let first = artifacts
        .upload(upload.clone(), "# Report\n")
        .await
        .unwrap();
    let again = artifacts
        .upload(upload.clone(), "# Report\n")
        .await
        .unwrap();
    assert_eq!(again, first);
    let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>(b"# Report\n".to_vec())]);
    let streamed = artifacts
        .upload_stream(upload.clone(), chunks)
        .await
        .unwrap();
    assert_eq!(streamed, first);

    let err = artifacts
        .upload(upload.clone(), "# Another report\n")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("idempotency_key_reused"), "{err:?}");
    assert_eq!(
        err.status(),
        Some(agentops_sdk::StatusCode::UNPROCESSABLE_ENTITY)
    );
    let listed = artifacts.list().project(project).send().await.unwrap();
    assert_eq!(listed.items, vec![first]);
}

async fn a_handler_attaches_files_to_its_task(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let task = app.task(project, "report", json!({ "title": "Q3" })).await;
    let builder = Worker::builder(app.client.clone())
        .name("reporter")
        .kinds(["report"])
        .poll_interval(Duration::from_millis(50))
        .handle_signals(false);
    let stop = builder.shutdown_handle();
    let run = tokio::spawn(builder.run(|task: TaskContext| async move {
        let body = format!("# {}\n", task.input()["title"].as_str().unwrap_or_default());
        let artifact = task.upload("report.md", "text/markdown", body).await?;
        Ok(json!({ "report": artifact.id }))
    }));
    let done = app
        .wait_for_task(task.id, Duration::from_secs(30), |t| {
            t.status == TaskStatus::Completed
        })
        .await;
    let listed = app
        .client
        .artifacts()
        .list()
        .task(task.id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(done.result, Some(json!({ "report": listed.items[0].id })));
    let bytes = app
        .client
        .artifacts()
        .download(listed.items[0].id)
        .await
        .unwrap();
    assert_eq!(&bytes.bytes().await.unwrap()[..], b"# Q3\n");
    stop.shutdown();
    run.await.unwrap().unwrap();
}

on_both_backends!(
    artifacts_are_uploaded_listed_downloaded_and_deleted,
    a_checksum_mismatch_stores_nothing,
    downloads_are_retried_and_uploads_are_stored_once,
    an_upload_with_its_own_key_is_stored_once,
    a_handler_attaches_files_to_its_task,
);
