//! A call's recordings: `GET /api/v1/calls/{callId}/recordings` lists them,
//! `GET /api/v1/calls/{callId}/recordings/{number}` downloads one as
//! `audio/wav` (8 kHz mono mu-law). Files are read off the HTTP workers'
//! threads.

use super::problem::Problem;
use super::{ApiRoute, AppState};
use crate::domain::CallId;
use crate::media::recording::{self, RecordingInfo};
use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new("/calls/{callId}/recordings", Method::GET, list),
        ApiRoute::new("/calls/{callId}/recordings/{number}", Method::GET, download),
    ]
}

/// A recording as listed, with where to download it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recording {
    #[serde(flatten)]
    info: RecordingInfo,
    /// `/api/v1/calls/{callId}/recordings/{number}`.
    url: String,
}

/// A WAV file: binary, described as a string with format `binary`.
pub struct WavFile;

impl utoipa::PartialSchema for WavFile {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl ToSchema for WavFile {}

#[derive(Serialize, ToSchema)]
pub struct RecordingList {
    /// By number, oldest first.
    recordings: Vec<Recording>,
}

fn parse_call_id(s: &str) -> Result<CallId, Problem> {
    s.parse()
        .map_err(|_| Problem::not_found(format!("no call with id {s:?} (call ids are UUIDs)")))
}

fn unavailable(e: impl std::fmt::Display) -> Problem {
    tracing::error!(error = %e, "recordings folder unreadable");
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "recordings-unavailable",
        "the recordings could not be read; try again",
    )
}

#[utoipa::path(get, path = "/api/v1/calls/{callId}/recordings", operation_id = "listCallRecordings", tag = "calls",
    params(("callId" = uuid::Uuid, Path, description = "The call's id")),
    responses(
        (status = 200, description = "The call's recordings (8 kHz mono mu-law WAV), by number", body = RecordingList),
        (status = 404, description = "No such call", body = super::openapi::doc::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn list(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = parse_call_id(&path)?;
    if state.store.get_call(id).await?.is_none() {
        return Err(Problem::not_found(format!("no call with id {id}")));
    }
    let dir = state.media_dirs.call_recordings(id);
    let infos = web::block(move || recording::list(&dir))
        .await
        .map_err(unavailable)?
        .map_err(unavailable)?;
    let recordings = infos
        .into_iter()
        .map(|info| Recording {
            url: format!("/api/v1/calls/{id}/recordings/{}", info.number),
            info,
        })
        .collect();
    Ok(HttpResponse::Ok().json(RecordingList { recordings }))
}

#[utoipa::path(get, path = "/api/v1/calls/{callId}/recordings/{number}", operation_id = "downloadCallRecording", tag = "calls",
    params(
        ("callId" = uuid::Uuid, Path, description = "The call's id"),
        ("number" = u32, Path, description = "The recording's number, from 1"),
    ),
    responses(
        (status = 200, description = "The recording as a WAV file (8 kHz mono mu-law)", content_type = "audio/wav", body = WavFile),
        (status = 404, description = "No such call or recording", body = super::openapi::doc::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn download(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let (call, number) = path.into_inner();
    let id = parse_call_id(&call)?;
    let missing = || Problem::not_found(format!("call {id} has no recording {number:?}"));
    let n: u32 = number
        .parse()
        .ok()
        .filter(|_| number.bytes().all(|b| b.is_ascii_digit()) && !number.starts_with('0'))
        .ok_or_else(missing)?;
    let file = recording::path_of(&state.media_dirs.call_recordings(id), n);
    let bytes = match web::block(move || std::fs::read(file))
        .await
        .map_err(unavailable)?
    {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
        Err(e) => return Err(unavailable(e)),
    };
    Ok(HttpResponse::Ok()
        .content_type("audio/wav")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{id}-{n}.wav\""),
        ))
        .body(bytes))
}
