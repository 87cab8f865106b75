//! The speech port against the real local engine (`scripts/speech`): long recordings
//! heard in pieces, and an engine that takes less than it is sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use agentops_agents::speech::chunks::{self, Limit};
use agentops_agents::speech::{OpenAiSpeech, Speaker, SpeechConfig, SpeechError, Transcriber};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;

fn speech_url() -> String {
    std::env::var("TEST_SPEECH_URL").unwrap_or_else(|_| "http://127.0.0.1:8093/v1".into())
}

/// About half a minute of speech, with sentences to pause between.
const LONG: &str = "First, create a project called Garden. Then add a task to water the roses \
every morning at seven. After that, remind me to buy fresh soil for the garden on Friday. \
Next, write a short report about the tomatoes and the peppers. Also check whether the hose \
in the shed still works. Finally, send the report to Ana by email before noon on Monday.";

/// A stand-in for a hosted engine that takes at most `max` bytes a file: it refuses a
/// larger upload with 413 and an HTML page (as a proxy in front of one does), and
/// hands the others to the real engine.
#[derive(Clone)]
struct Picky {
    engine: String,
    max: usize,
    calls: Arc<AtomicUsize>,
    largest: Arc<AtomicUsize>,
}

async fn picky(
    State(p): State<Picky>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    p.calls.fetch_add(1, Ordering::SeqCst);
    if body.len() > p.max {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            [("content-type", "text/html")],
            "<html><body><h1>413 Request Entity Too Large</h1></body></html>",
        )
            .into_response();
    }
    p.largest.fetch_max(body.len(), Ordering::SeqCst);
    let answer = reqwest::Client::new()
        .post(format!("{}/audio/transcriptions", p.engine))
        .header("content-type", headers["content-type"].clone())
        .body(body)
        .send()
        .await
        .unwrap();
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    (
        status,
        [("content-type", "application/json")],
        answer.bytes().await.unwrap(),
    )
        .into_response()
}

fn engine(base: &str, chunk_seconds: f64) -> OpenAiSpeech {
    OpenAiSpeech::new(SpeechConfig {
        chunk: Limit {
            seconds: chunk_seconds,
            bytes: agentops_agents::speech::MAX_AUDIO,
        },
        ..SpeechConfig::new(base)
    })
    .unwrap()
}

/// How many of `words` `text` holds.
fn holds(text: &str, words: &[&str]) -> usize {
    let text = text.to_lowercase();
    words.iter().filter(|w| text.contains(*w)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_recording_is_heard_in_pieces_cut_at_its_pauses() {
    let real = speech_url();
    let note = engine(&real, 600.0)
        .speak(LONG)
        .await
        .expect("the local speech engine speaks (scripts/speech/start.sh)");
    let seconds = chunks::duration(&note).expect("Ogg/Opus");
    assert!(seconds > 15.0, "{seconds} s");

    // Cut into pieces of at most 8 s, each its own Ogg/Opus file, nothing lost.
    let pieces = chunks::split(
        &note,
        Limit {
            seconds: 8.0,
            bytes: usize::MAX,
        },
    )
    .unwrap();
    assert!(pieces.len() >= 3, "{} pieces of {seconds} s", pieces.len());
    let lengths: Vec<f64> = pieces
        .iter()
        .map(|p| chunks::duration(p).unwrap())
        .collect();
    assert!(lengths.iter().all(|s| *s <= 8.0), "{lengths:?}");
    assert!(
        (lengths.iter().sum::<f64>() - seconds).abs() < 0.01,
        "{lengths:?}"
    );

    // Heard piece by piece by the real engine and put together: the beginning, the
    // middle and the end are all there.
    let heard = engine(&real, 8.0)
        .transcribe(note.clone(), "voice.ogg")
        .await
        .unwrap();
    let start = ["create", "project", "garden", "water", "roses"];
    let end = ["report", "ana", "email", "noon", "monday"];
    assert!(holds(&heard.text, &start) >= 3, "{}", heard.text);
    assert!(holds(&heard.text, &end) >= 3, "{}", heard.text);
    assert!(
        holds(
            &heard.text,
            &["tomatoes", "peppers", "hose", "shed", "soil"]
        ) >= 2,
        "{}",
        heard.text
    );
    let total = heard.seconds.expect("the engine says how long");
    assert!(
        (total - seconds).abs() < 1.5,
        "{total} s heard of {seconds} s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_that_refuses_a_large_file_gets_it_in_halves() {
    let real = speech_url();
    let note = engine(&real, 600.0)
        .speak(LONG)
        .await
        .expect("the local speech engine speaks (scripts/speech/start.sh)");
    // An engine taking a third of the note at most.
    let max = note.len() / 3;
    let stand_in = Picky {
        engine: real,
        max,
        calls: Arc::default(),
        largest: Arc::default(),
    };
    let app = axum::Router::new()
        .route("/v1/audio/transcriptions", axum::routing::post(picky))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(stand_in.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let heard = engine(&base, 600.0)
        .transcribe(note.clone(), "voice.ogg")
        .await
        .unwrap();
    assert!(
        holds(&heard.text, &["garden", "roses", "report", "email", "noon"]) >= 4,
        "{}",
        heard.text
    );
    // Refused whole and in halves, then heard in quarters (or so).
    assert!(stand_in.calls.load(Ordering::SeqCst) >= 5);
    assert!(stand_in.largest.load(Ordering::SeqCst) <= max);

    // What cannot be cut (not Ogg/Opus) stays refused, with the engine's status.
    let wav = vec![0u8; max + 1];
    match engine(&base, 600.0).transcribe(wav, "voice.wav").await {
        Err(SpeechError::Status { status: 413, .. }) => {}
        other => panic!("{other:?}"),
    }
}
