/**
 * The page after an account deletion: wipes this browser's gallery of the deleted
 * account, only on the instruction the server signed for it (the button's account id is
 * rendered only from a valid signature; a forged link shows no button).
 */
import { openGalleryDb, wipeAccount } from "./gallery/storage.js";

const button = document.getElementById("wipe");
const result = document.getElementById("wipe-result");
if (button && button.dataset.account) {
  button.addEventListener("click", async () => {
    if (!window.confirm("Delete every image of this account from this browser? This cannot be undone.")) return;
    button.disabled = true;
    try {
      // The server spends its signed instruction once: a reload or a copied link wipes nothing.
      const spent = await fetch("/goodbye/wipe", {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ w: button.dataset.token }),
      });
      if (!spent.ok) {
        result.textContent = "This wipe link was used already; nothing was deleted.";
        return;
      }
      const { account } = await spent.json();
      if (account !== button.dataset.account) return;
      const count = await wipeAccount(await openGalleryDb(), account);
      result.textContent = `${count} image(s) deleted from this browser.`;
    } catch {
      result.textContent = "This browser could not delete the images; clear the site's data in its settings.";
      button.disabled = false;
    }
  });
}
