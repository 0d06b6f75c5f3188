//! The request-response wire format, shared by the sync and model-chunk protocols: one frame
//! per direction, a 4-byte big-endian length then that many bytes of SCALE. A frame claiming
//! more than the limit is refused before anything is allocated for it, and the buffer grows
//! only with bytes that actually arrive.

use std::{fmt, io, marker::PhantomData};

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::{request_response, StreamProtocol};
use parity_scale_codec::{Decode, DecodeAll, Encode};

use crate::{BlockRequest, BlockResponse, ModelChunkRequest, ModelChunkResponse, RefusalReason};

/// Largest request frame, sync or model chunk (a request is a few dozen bytes; the rest is
/// headroom).
pub const MAX_REQUEST_SIZE: usize = 1024;

/// Most bytes of a model file asked for in one [`ModelChunkRequest`] (4 MiB); a request for
/// more is refused with [`RefusalReason::TooLarge`].
pub const MAX_MODEL_CHUNK: u32 = 4 * 1024 * 1024;

/// Largest model-chunk response frame: a full chunk plus room for its proof
/// (`MAX_MODEL_CHUNK + MAX_MODEL_CHUNK / 8 + 64 KiB`). A longer frame is refused while
/// decoding, and the peer that sent it penalised.
pub const MAX_MODEL_RESPONSE_SIZE: usize =
    MAX_MODEL_CHUNK as usize + MAX_MODEL_CHUNK as usize / 8 + 64 * 1024;

/// What travels back on the sync protocol.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub(crate) enum SyncResponse {
    Blocks(BlockResponse),
    Refused(RefusalReason),
}

/// The io error payload for a frame over its limit, so the caller can tell it apart (and
/// penalise the peer for it).
#[derive(Debug)]
pub(crate) struct FrameTooLarge {
    pub size: u64,
    pub limit: u64,
}

impl fmt::Display for FrameTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "frame of {} bytes over the limit of {}",
            self.size, self.limit
        )
    }
}

impl std::error::Error for FrameTooLarge {}

/// The [`FrameTooLarge`] inside an io error, if that is what it is.
pub(crate) fn frame_too_large(e: &io::Error) -> Option<&FrameTooLarge> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<FrameTooLarge>())
}

/// Length-prefixed SCALE frames of `Req` one way and `Resp` the other, each direction with
/// its own size limit.
pub(crate) struct FrameCodec<Req, Resp> {
    max_request: usize,
    max_response: usize,
    _types: PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp> FrameCodec<Req, Resp> {
    pub(crate) fn new(max_request: usize, max_response: usize) -> Self {
        FrameCodec {
            max_request,
            max_response,
            _types: PhantomData,
        }
    }
}

// Not derived: a derive would require `Req: Clone` and `Resp: Clone`.
impl<Req, Resp> Clone for FrameCodec<Req, Resp> {
    fn clone(&self) -> Self {
        Self::new(self.max_request, self.max_response)
    }
}

/// Block sync: `/menara/<chain_id>/sync/1`.
pub(crate) type SyncCodec = FrameCodec<BlockRequest, SyncResponse>;
/// Model chunks: `/menara/<chain_id>/models/1`.
pub(crate) type ModelCodec = FrameCodec<ModelChunkRequest, ModelChunkResponse>;

pub(crate) async fn read_frame<T: AsyncRead + Unpin + Send>(
    io: &mut T,
    limit: usize,
) -> io::Result<Vec<u8>> {
    let mut prefix = [0u8; 4];
    io.read_exact(&mut prefix).await?;
    let size = u64::from(u32::from_be_bytes(prefix));
    if size > limit as u64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            FrameTooLarge {
                size,
                limit: limit as u64,
            },
        ));
    }
    let mut buf = Vec::new();
    io.take(size).read_to_end(&mut buf).await?;
    if buf.len() as u64 != size {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(buf)
}

pub(crate) async fn write_frame<T: AsyncWrite + Unpin + Send>(
    io: &mut T,
    bytes: &[u8],
    limit: usize,
) -> io::Result<()> {
    let size = u32::try_from(bytes.len())
        .ok()
        .filter(|s| *s as usize <= limit)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                FrameTooLarge {
                    size: bytes.len() as u64,
                    limit: limit as u64,
                },
            )
        })?;
    io.write_all(&size.to_be_bytes()).await?;
    io.write_all(bytes).await?;
    io.flush().await
}

fn decode<T: Decode>(bytes: &[u8]) -> io::Result<T> {
    T::decode_all(&mut &bytes[..])
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

impl<Req, Resp> request_response::Codec for FrameCodec<Req, Resp>
where
    Req: Encode + Decode + Send,
    Resp: Encode + Decode + Send,
{
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Req>
    where
        T: AsyncRead + Unpin + Send,
    {
        decode(&read_frame(io, self.max_request).await?)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        decode(&read_frame(io, self.max_response).await?)
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Req) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req.encode(), self.max_request).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Resp,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res.encode(), self.max_response).await
    }
}

/// Encoded size of `Blocks(BlockResponse { blocks, head })`, computed without encoding.
pub(crate) fn blocks_response_size<'a>(blocks: impl IntoIterator<Item = &'a Vec<u8>>) -> usize {
    let mut count = 0usize;
    let mut size = 1; // the enum variant
    for block in blocks {
        count += 1;
        size += compact_len(block.len()) + block.len();
    }
    size + compact_len(count) + 8 // head: u64
}

fn compact_len(n: usize) -> usize {
    parity_scale_codec::Compact(n as u64).encoded_size()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use futures::io::Cursor;
    use request_response::Codec;

    fn codec() -> SyncCodec {
        SyncCodec::new(MAX_REQUEST_SIZE, 1000)
    }

    fn proto() -> StreamProtocol {
        StreamProtocol::new("/menara/test/sync/1")
    }

    #[tokio::test]
    async fn roundtrip() {
        let mut c = codec();
        let mut buf = Vec::new();
        let req = BlockRequest { from: 7, max: 3 };
        c.write_request(&proto(), &mut Cursor::new(&mut buf), req)
            .await
            .unwrap();
        let got = c
            .read_request(&proto(), &mut Cursor::new(&buf))
            .await
            .unwrap();
        assert_eq!(got, req);

        let blocks = vec![vec![1u8; 10], vec![2u8; 300]];
        let res = SyncResponse::Blocks(BlockResponse {
            blocks: blocks.clone(),
            head: 7,
        });
        assert_eq!(blocks_response_size(&blocks), res.encoded_size());
        let mut buf = Vec::new();
        c.write_response(&proto(), &mut Cursor::new(&mut buf), res.clone())
            .await
            .unwrap();
        let got = c
            .read_response(&proto(), &mut Cursor::new(&buf))
            .await
            .unwrap();
        assert_eq!(got, res);
    }

    #[tokio::test]
    async fn claimed_length_over_limit_is_refused_without_reading_on() {
        // A frame claiming 4 GiB followed by only a few bytes: refused on the prefix alone.
        let mut data = u32::MAX.to_be_bytes().to_vec();
        data.extend_from_slice(&[0u8; 16]);
        let err = codec()
            .read_request(&proto(), &mut Cursor::new(&data))
            .await
            .unwrap_err();
        let too_large = frame_too_large(&err).unwrap();
        assert_eq!(too_large.size, u64::from(u32::MAX));
        let err = codec()
            .read_response(&proto(), &mut Cursor::new(&data))
            .await
            .unwrap_err();
        assert!(frame_too_large(&err).is_some());
    }

    #[tokio::test]
    async fn short_frames_and_garbage_are_errors() {
        // Claims 100 bytes, carries 3.
        let mut data = 100u32.to_be_bytes().to_vec();
        data.extend_from_slice(&[1, 2, 3]);
        let err = codec()
            .read_request(&proto(), &mut Cursor::new(&data))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        // Trailing bytes after a valid request.
        let mut payload = BlockRequest { from: 1, max: 1 }.encode();
        payload.push(0);
        let mut data = (payload.len() as u32).to_be_bytes().to_vec();
        data.extend_from_slice(&payload);
        let err = codec()
            .read_request(&proto(), &mut Cursor::new(&data))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(frame_too_large(&err).is_none());
    }

    #[tokio::test]
    async fn oversized_writes_are_refused_locally() {
        let mut buf = Vec::new();
        let res = SyncResponse::Blocks(BlockResponse {
            blocks: vec![vec![0u8; 2000]],
            head: 0,
        });
        let err = codec()
            .write_response(&proto(), &mut Cursor::new(&mut buf), res)
            .await
            .unwrap_err();
        assert!(frame_too_large(&err).is_some());
        assert!(buf.is_empty());
    }

    #[tokio::test]
    async fn model_chunks_roundtrip_within_their_own_limits() {
        let mut c = ModelCodec::new(MAX_REQUEST_SIZE, MAX_MODEL_RESPONSE_SIZE);
        let proto = StreamProtocol::new("/menara/test/models/1");
        let req = ModelChunkRequest {
            model: [9; 32],
            offset: 1 << 40,
            len: MAX_MODEL_CHUNK,
        };
        let mut buf = Vec::new();
        c.write_request(&proto, &mut Cursor::new(&mut buf), req)
            .await
            .unwrap();
        let got = c
            .read_request(&proto, &mut Cursor::new(&buf))
            .await
            .unwrap();
        assert_eq!(got, req);

        // A full chunk with a proof of an eighth of its size fits.
        let full = MAX_MODEL_CHUNK as usize + MAX_MODEL_CHUNK as usize / 8;
        for res in [
            ModelChunkResponse::Data(vec![3; full]),
            ModelChunkResponse::NotFound,
            ModelChunkResponse::Refused(RefusalReason::TooLarge),
        ] {
            let mut buf = Vec::new();
            c.write_response(&proto, &mut Cursor::new(&mut buf), res.clone())
                .await
                .unwrap();
            let got = c
                .read_response(&proto, &mut Cursor::new(&buf))
                .await
                .unwrap();
            assert_eq!(got, res);
        }

        // One byte over the frame limit is refused on its length prefix alone.
        let mut data = (MAX_MODEL_RESPONSE_SIZE as u32 + 1).to_be_bytes().to_vec();
        data.extend_from_slice(&[0u8; 16]);
        let err = c
            .read_response(&proto, &mut Cursor::new(&data))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            frame_too_large(&err).unwrap().limit,
            MAX_MODEL_RESPONSE_SIZE as u64
        );
    }
}
