/** A dialog on the native <dialog> element: focus is trapped and restored by the
 * browser, Escape closes it, and the page behind is inert. */
import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { X } from "./icons";

/** A native <dialog> shown modally while mounted (closed on unmount), whose Escape
 * (the `cancel` event) calls `onClose` instead of closing it behind the app's back.
 * Spread `ref` and `onCancel` onto the <dialog>. */
export function useModalDialog(onClose: () => void) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);
  const onCancel = (e: Event) => {
    e.preventDefault();
    onClose();
  };
  return { ref, onCancel };
}

export function Modal({
  title,
  onClose,
  children,
}: {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
}) {
  const { ref, onCancel } = useModalDialog(onClose);
  return (
    <dialog
      ref={ref}
      class="modal"
      aria-label={title}
      onCancel={onCancel}
      onClick={(e) => {
        if (e.target === ref.current) onClose(); // a click on the backdrop
      }}
    >
      <div class="modal-body">
        <header>
          <h2>{title}</h2>
          <button type="button" class="icon-button" aria-label="Close" onClick={onClose}>
            <X />
          </button>
        </header>
        {children}
      </div>
    </dialog>
  );
}
