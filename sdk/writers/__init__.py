"""Output writers: PNG, NPZ and DICOM files, the manifest, and the resumable run that ties them together.

- :mod:`medsynth.writers.base`: the writer interface (:class:`~medsynth.writers.base.FileWriter` for one file
  per image, :class:`~medsynth.writers.base.ContainerWriter` for one file per run) and
  :class:`~medsynth.writers.base.ImageMeta`;
- :mod:`medsynth.writers.formats`: ``--format`` name -> writer, imported only when used;
- :mod:`medsynth.writers.run`: :func:`~medsynth.writers.run.write_run`, a whole run into an output folder.

Nothing is imported here, so ``import medsynth.writers`` loads neither Pillow nor pydicom.
"""
