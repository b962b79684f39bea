// The page after an account deletion: offers to wipe this browser's gallery.
(function () {
  var button = document.getElementById("wipe");
  var result = document.getElementById("wipe-result");
  if (!button || !window.AICreative) return;
  button.addEventListener("click", function () {
    if (!window.confirm("Delete every image of this account from this browser? This cannot be undone.")) return;
    button.disabled = true;
    window.AICreative.wipeUser(button.dataset.user).then(function (count) {
      result.textContent = count + " image(s) deleted from this browser.";
    }, function () {
      result.textContent = "This browser could not delete the images; clear the site's data in its settings.";
      button.disabled = false;
    });
  });
})();
