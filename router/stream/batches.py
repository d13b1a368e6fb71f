"""A consumer that takes batches and commits each once every record of it is handled; on a failure it
commits nothing, seeks back and takes the batch again after the worker's backoff (what was stored comes
back as a repeat, which creates nothing). The acknowledgement and report consumers are its kinds."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from router.stream.settings import KafkaSettings
from router.worker import Runs, Worker


class BatchConsumer(Runs):
    def __init__(self, settings: KafkaSettings, topic: str, group: str, worker: str) -> None:
        self.settings = settings
        self.consumer = AIOKafkaConsumer(
            topic,
            **settings.client_options(),
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        self.worker = Worker(worker, self._step, poll=0.0)

    async def start(self) -> None:
        await self.consumer.start()

    async def close(self) -> None:
        await self.consumer.stop()

    async def _one(self, record: ConsumerRecord[bytes, bytes]) -> None:
        raise NotImplementedError

    async def _step(self) -> bool:
        """Take a batch (waiting up to half a second) and commit it once every record is handled."""
        batches = await self.consumer.getmany(timeout_ms=500, max_records=500)
        if not batches:
            return True  # getmany waited already
        try:
            for records in batches.values():
                for record in records:
                    await self._one(record)
            await self.consumer.commit({tp: r[-1].offset + 1 for tp, r in batches.items() if r})
        except Exception:  # the store is unwell: seek back so the batch is taken again
            for tp, records in batches.items():
                if records and tp in self.consumer.assignment():
                    self.consumer.seek(tp, records[0].offset)
            raise
        return True
