/** Entry point: theme first (no flash of the wrong one), then the app. */
import { render } from "preact";
import { applyTheme, loadTheme } from "./ui/hooks";
import { App } from "./ui/App";
import "./styles.css";

applyTheme(loadTheme());
render(<App />, document.getElementById("app")!);
