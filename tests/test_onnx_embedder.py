"""The local ONNX embedder against known facts about all-MiniLM-L6-v2.

The reference vectors below were computed once with sentence-transformers 6.2 running the
original fp32 weights (sentence-transformers/all-MiniLM-L6-v2, normalised) and stored as
little-endian float16; the bundled int8 model (weights and activations) stays within cosine
0.99 of them (0.9951 measured on both).
"""

from __future__ import annotations

import base64
import gc
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import numpy as np
import pytest

from headroom.embedders import CachedEmbedder, OnnxEmbedder, create_embedder, embed_one
from headroom.embedders.models import MINILM_L6_V2
from headroom.embedders.settings import DEFAULT_EMBEDDER_THREADS
from headroom.errors import (
    ClosedError,
    ConfigError,
    DimensionMismatchError,
    EmbedderModelNotFoundError,
    EmbedderUnavailableError,
)
from headroom.memory.config import MemoryConfig

pytestmark = pytest.mark.anyio

CAT = "The cat sits on the mat."
KITTEN = "A kitten is resting on a rug."
REVENUE = "Quarterly revenue grew by eight percent."

FP32_REFERENCE = {
    CAT: (
        "SzA2qFqmTimnqFop/ifDKK0fuSjmp0wsISggJvikoam+rJil1y3mKEmofKDEJcOskarxLFSpmaY7KD+kCavlmPoh7ymg"
        "I2etDhorrPMnvyWXK/8mhpw7rOIiN6CfLqKvzCrIHSuu2ixVKPooJa9bq3ssSatenOqr4qUiKG4tsyyIKNqrcKwanw8E"
        "rSpXpzwnIyX/ntuo2aYjMRUhqSzpKB0feCysLfMoFaUZK64odimVpBaspiyCKQeoRywfquupDKVPLAYfyCUZpV0lZKUr"
        "LiSr/CabJ72fAx9EpvClnKCvrggsMhkALD0o+KxlJxqpQipOr/UgByYTrD2n16wAgNusxKQPqEuubCw8qMugUyBDrEgh"
        "kaKjGBgma6TAqqKrjCNsqC6pAKHZLfAj9CPxmaEYvavaKQmpp6WZo/gb7KZ+Jecn16h1qKqpUislnbUmBSxUHZ4tdixn"
        "GDgilKiUKoYo/igLLfeniSQNrr6pHqvMql6vDaVGLCCbrbAlKsumyCjhq6csrK2jLMcre6v1LXig7qvvo02sQqP5oUSs"
        "kSRPKnke9SbCKUSolRx4qRUsQKt/KVAqsypFJAqs+SgAAEKs46qXqsWktq08J0It+inWqrAruygaLgUskSmUIHUlUq57"
        "qlkpnakCqXQp3JkIJZsbiSsoJgSaKh12r/Sm2KbrpcMjsSmIKNmtQKuRqsCkMRvyJCuraKr5qJ4hB6jeK4IqsCgEHq6p"
        "BixFLGUs8C8Sqj2XMqltLo4piCYvLpqnUadErBulp6wxmHOaaB2ALgWlAqEkKQYq4CwUJp+o66mfpF8e+6FppVohqaH3"
        "ntoeiqgUqGQsyKyUJXCnfaoAgI2u8KUlrAynD6IyI2qluLEDJiYmuCatqswkqahwJeEsU64coMsowyg4qQwkWq5NKKwm"
        "3aRoqdEpFyhkqGoovaogKbKq4qO2prwm062fLKWg8S4QJdwsLaeMqoAr8CU0qHcr6yoToFAnQKEEl4ytBKppHtshRyhb"
        "KuwgiSozJbIr"
    ),
    REVENUE: (
        "zCh1GXgoRh1kH+UfAaV1LXqn8ibYK3wsuamFJ4okiyNSIJWnaawTp0iZ7ap3JAYmazGkIEOmWx1hnLusGqzRLxAp/Kbl"
        "KHwikCwlLb2bli0ypMQeS6wEqMkY2atMKfMuBiiKLImXfyhBI6copyg7qm8i46gJJkkif6qkKFAszyirqQ2kXKSGJk2w"
        "JygkLGkm+qlWqOAj3JfyKzwriSj+o/oovCYwoKGfH6uqqhErE6onH0AmOZrqK4ckRa1LHeamqapUshcwEStGLQeoVa0D"
        "JvAgyKrRKBYvxJzrJMYU+aGeJY+mNSTQpO+k/xkhJr4prSr3K2SoFSxIqIQrshgAgDKZDyW0Ip+nE6fRqIyckCceJVqp"
        "fapIKqIgG6vnLQGo1arDL4ekBawdp3GsjivSKFoowSb/IFIhd6UXqLQsoCBzIDmtKamMqCEsHiWTK2YoCybSpdwh5azX"
        "riSgx6xHnSIqSCnnJH8nOCaGqfClAqpfqPKlvCl+DG4rFC11KcCrmLCnm9UsZSg7kqIo2iQtpVWnLydZKjemTadmJIsq"
        "lCv5KISsTSVBrLMpBqIoLqwqEpgRqYYok6oSKDYmlKcAALcICTD5JWOsBKP2JF+q6J90q6InVq3ULoep8yj2qUiruSgy"
        "IBQpT6cPHz6nsaMeLFyfKqnkrbIo5RSdKCApIaXmqYwqaqugrGis6KxYKHOrqCpsr/8fB5u1pZ4Jby1tJf0mpSyNpC8r"
        "RqcFKDuwVi7aGL4f8pyXJyuabB+oKYKrranVKcsngKkpoEewyShBLCOadx1/qsEtARt4nW0p+SQiqTWd0Sg1qUGx+R4o"
        "LOetiygULJ6dZ6wXo9KoIp8AgGUbw5mRKbwqryhJriws/ygVK2yslqhso2eqI5UWowmq6B6+KgYKIadJGnoruCpqp00Z"
        "k6NNpk4qfR4wrdYseCzorPen1aZwpWOpKiT2qTavkKomqcAkSatdrfafLK62okAk26+pLgynAiRkpPoo+K3AqIyoc6xM"
        "Itknl6GLLDCs"
    ),
}

# Components of the bundled model's vector for CAT, pinned when this test was written.
# The tolerance leaves room for onnxruntime's int8 kernels on other CPUs and still tells
# this model from the previous one (which differs by up to 0.010 in these components).
PINNED_CAT = {
    0: 0.12633,
    1: -0.02666,
    2: -0.02562,
    3: 0.03189,
    4: -0.04004,
    5: 0.04112,
    10: -0.02437,
    100: -0.01540,
    200: 0.00007,
    383: 0.05844,
}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def embedder() -> AsyncIterator[OnnxEmbedder]:
    # One loaded model for the module: loading costs ~0.25 s.
    embedder = await OnnxEmbedder.create()
    yield embedder
    await embedder.aclose()


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


_EMBEDDERS = Path(__file__).parents[1] / "headroom/embedders"


def test_the_model_file_has_the_pinned_sha256() -> None:
    digest = hashlib.sha256((_EMBEDDERS / MINILM_L6_V2.onnx_file).read_bytes()).hexdigest()
    assert digest == MINILM_L6_V2.onnx_sha256


async def test_close_to_the_fp32_reference(embedder: OnnxEmbedder) -> None:
    texts = list(FP32_REFERENCE)
    vectors = await embedder.embed(texts)
    for text, vector in zip(texts, vectors, strict=True):
        reference = np.frombuffer(base64.b64decode(FP32_REFERENCE[text]), dtype="<f2")
        assert _cosine(vector, reference.astype(np.float32)) > 0.99


async def test_pinned_values(embedder: OnnxEmbedder) -> None:
    vector = await embed_one(embedder, CAT)
    for index, value in PINNED_CAT.items():
        assert vector[index] == pytest.approx(value, abs=3e-3)


async def test_similar_sentences_are_closer_than_unrelated_ones(embedder: OnnxEmbedder) -> None:
    cat, kitten, revenue = await embedder.embed([CAT, KITTEN, REVENUE])
    assert cat @ cat == pytest.approx(1.0, abs=1e-5)
    assert cat @ kitten > 0.5
    assert cat @ kitten > cat @ revenue + 0.4
    assert abs(kitten @ revenue) < 0.2


async def test_padding_does_not_change_a_vector(embedder: OnnxEmbedder) -> None:
    alone = await embed_one(embedder, CAT)
    padded = await embedder.embed([CAT, "a much longer text that forces padding " * 20])
    np.testing.assert_allclose(padded[0], alone, atol=1e-5)


async def test_sub_batches_do_not_change_vectors(embedder: OnnxEmbedder) -> None:
    texts = [f"memory number {i}: " + "detail " * (i % 17) for i in range(20)]
    whole = await embedder.embed(texts)
    async with OnnxEmbedder(sub_batch=3) as small:
        np.testing.assert_allclose(await small.embed(texts), whole, atol=1e-5)


async def test_lanes_do_not_change_vectors(embedder: OnnxEmbedder) -> None:
    texts = [f"memory number {i}: " + "detail " * (i % 13) for i in range(40)]
    alone = await embedder.embed(texts)
    async with OnnxEmbedder(threads=3, sub_batch=4) as lanes:
        np.testing.assert_allclose(await lanes.embed(texts), alone, atol=1e-5)


def test_the_config_and_the_embedder_default_to_the_same_lanes() -> None:
    assert MemoryConfig().embedder_threads == DEFAULT_EMBEDDER_THREADS
    assert OnnxEmbedder().threads == DEFAULT_EMBEDDER_THREADS


async def test_a_query_does_not_wait_behind_a_batch() -> None:
    # One lane, and the whole batch in one hop: a query sharing the batch's lane would wait
    # for all 300 texts (over half a second on any machine); on its own lane it is done first.
    embedder = await OnnxEmbedder.create(threads=1, sub_batch=300)
    texts = [f"text {i} " + "word " * 40 for i in range(300)]
    finished: list[str] = []

    async def batch() -> None:
        await embedder.embed(texts)
        finished.append("batch")

    async def query() -> None:
        await anyio.sleep(0.05)  # the batch holds its lane by now
        await embedder.embed(["where do I work?"])
        finished.append("query")

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(batch)
            group.start_soon(query)
    finally:
        await embedder.aclose()
    assert finished == ["query", "batch"]


async def test_closing_during_a_batch_on_several_lanes_raises_closed() -> None:
    embedder = await OnnxEmbedder.create(threads=2, sub_batch=1)
    texts = [f"text {i} " + "word " * 50 for i in range(400)]
    caught: list[Exception] = []

    async def close_soon() -> None:
        await anyio.sleep(0.05)  # the batch takes over half a second
        await embedder.aclose()

    async with anyio.create_task_group() as group:
        group.start_soon(close_soon)
        try:
            await embedder.embed(texts)
        except Exception as exc:
            caught.append(exc)
    assert [type(exc) for exc in caught] == [ClosedError]  # itself, not an ExceptionGroup
    assert "closed" in repr(embedder)


async def test_long_text_is_truncated_at_256_tokens(embedder: OnnxEmbedder) -> None:
    assert embedder.max_tokens == 256
    long = "word " * 2000  # 10,000 characters
    # [CLS] + 254 words + [SEP] is exactly 256 tokens: everything after is cut.
    cut, longer = await embedder.embed(["word " * 254, long])
    np.testing.assert_allclose(longer, cut, atol=1e-5)
    shorter = await embed_one(embedder, "word " * 200)
    assert not np.allclose(shorter, cut, atol=1e-4)


async def test_concurrent_callers_get_their_own_answers(embedder: OnnxEmbedder) -> None:
    texts = [CAT, KITTEN, REVENUE] * 4
    expected = await embedder.embed(texts)
    results: dict[int, np.ndarray] = {}

    async def one(i: int) -> None:
        results[i] = await embed_one(embedder, texts[i])

    async with anyio.create_task_group() as group:
        for i in range(len(texts)):
            group.start_soon(one, i)
    np.testing.assert_allclose(np.stack([results[i] for i in range(len(texts))]), expected, 1e-5)


def _copy_model(folder: Path) -> Path:
    folder.mkdir()
    shutil.copyfile(_EMBEDDERS / MINILM_L6_V2.onnx_file, folder / "model.onnx")
    shutil.copyfile(_EMBEDDERS / MINILM_L6_V2.tokenizer_file, folder / "tokenizer.json")
    return folder


async def test_a_model_folder(tmp_path: Path, embedder: OnnxEmbedder) -> None:
    folder = _copy_model(tmp_path / "my-minilm")
    with pytest.raises(ConfigError, match="create"):
        OnnxEmbedder(folder)
    async with await OnnxEmbedder.create(folder) as local:
        assert local.model_name == "my-minilm"
        assert local.dimension == 384  # read from the model's output
        assert local.max_tokens == 128  # the tokenizer's own setting, nothing overrides it
        np.testing.assert_allclose(
            await local.embed([CAT, REVENUE]), await embedder.embed([CAT, REVENUE]), atol=1e-5
        )
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 256}))
    async with OnnxEmbedder(str(folder), dimension=384) as local:
        assert local.max_tokens == 256
        np.testing.assert_allclose(
            await embed_one(local, CAT), await embed_one(embedder, CAT), 0, 1e-5
        )


async def test_a_folder_without_a_model_or_a_broken_model(tmp_path: Path) -> None:
    with pytest.raises(EmbedderModelNotFoundError, match="all-MiniLM-L6-v2"):
        OnnxEmbedder(tmp_path / "nowhere")
    (tmp_path / "model.onnx").write_bytes(b"this is not an onnx graph")
    with pytest.raises(EmbedderModelNotFoundError, match=r"tokenizer\.json"):
        await OnnxEmbedder.create(tmp_path)
    shutil.copyfile(_EMBEDDERS / MINILM_L6_V2.tokenizer_file, tmp_path / "tokenizer.json")
    with pytest.raises(EmbedderUnavailableError, match="onnxruntime cannot load") as caught:
        await OnnxEmbedder.create(tmp_path)
    assert caught.value.__cause__ is not None  # the onnxruntime error, chained


async def test_an_unclosed_loaded_embedder_warns() -> None:
    embedder = await OnnxEmbedder.create()
    await embedder.embed([CAT])
    with pytest.warns(ResourceWarning, match="never closed"):
        del embedder
        gc.collect()


async def test_create_embedder_for_the_local_backend(tmp_path: Path) -> None:
    config = MemoryConfig(db_path=tmp_path / "m.db")
    cached = await create_embedder(config)
    assert isinstance(cached, CachedEmbedder)
    assert isinstance(cached.inner, OnnxEmbedder)
    assert (cached.model_name, cached.dimension) == ("all-MiniLM-L6-v2", 384)
    await cached.aclose()
    plain = await create_embedder(config.with_changes(cache_enabled=False, embedder_threads=2))
    assert isinstance(plain, OnnxEmbedder)
    await plain.aclose()
    with pytest.raises(DimensionMismatchError, match=r"384.*256"):
        await create_embedder(config.with_changes(vector_dimension=256))


@pytest.mark.parametrize(
    ("hidden", "package"), [("onnxruntime", "onnxruntime"), ("tokenizers", "tokenizers")]
)
def test_a_missing_dependency_says_what_to_install(hidden: str, package: str) -> None:
    # A fresh interpreter where the package cannot be imported (sys.modules[name] = None).
    code = (
        f"import sys; sys.modules[{hidden!r}] = None\n"
        "import anyio\n"
        "from headroom.embedders.onnx import OnnxEmbedder\n"
        "from headroom.errors import DependencyError\n"
        "try:\n"
        "    anyio.run(OnnxEmbedder.create)\n"
        "except DependencyError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert f"pip install {package!r}" in result.stdout
